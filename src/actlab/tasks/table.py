"""``actlab tasks``: what can be studied, with default budgets and the test profile, as a text table."""
from __future__ import annotations

from typing import Mapping, Optional

from .definition import TRAINABLE, Task
from .registry import get, names

# The seed CNN's default budget is the compare 'default' profile; its six activations and two seeds are
# the Study defaults (actlab.compare.sweep), shown here for the budget column.
_STUDY_DEFAULTS = {"activations": 6, "seeds": 2}


def budget_text(settings: Mapping) -> str:
    """'6 act x 3 seeds x depth 4|16|32|64, 5 epochs, 10,000 images' from a task's profile settings."""
    acts = settings.get("activations")
    parts = [f"{len(acts) if acts else _STUDY_DEFAULTS['activations']} act",
             f"{settings.get('seeds', _STUDY_DEFAULTS['seeds'])} seeds"]
    parts += [f"{k} {'|'.join(map(str, v))}" for k, v in dict(settings.get("grid") or {}).items()]
    out = " x ".join(parts)
    if "epochs" in settings:
        out += f", {settings['epochs']} epoch{'s' if settings['epochs'] != 1 else ''}"
    if settings.get("steps"):
        out += f" of {settings['steps']:,} steps"
    if settings.get("train_limit"):
        out += f", {settings['train_limit']:,} train"
    return out


def rows(tasks: Optional[list[Task]] = None) -> list[dict]:
    """One dict per task: name, kind, dataset, model, metric, default budget, minutes, test profile."""
    out = []
    for task in tasks if tasks is not None else [get(n) for n in names()]:
        trainable = task.kind in TRAINABLE
        out.append({
            "task": task.name, "kind": task.kind, "dataset": task.dataset, "model": task.model,
            "metric": f"{task.metric} ({'higher' if task.higher_is_better else 'lower'} is better)",
            "default budget": budget_text(task.settings("default")) if trainable else "library only (not in compare yet)",
            "minutes (2 cores)": f"~{task.minutes:g}" if task.minutes else "-",
            "test profile": budget_text(task.settings("test")) if trainable and task.test else "-",
        })
    return out


def table(tasks: Optional[list[Task]] = None) -> str:
    """The rows as an aligned text table, one line per task, then what the budget means."""
    data = rows(tasks)
    heads = list(data[0]) if data else []
    widths = {h: max(len(h), *(len(str(r[h])) for r in data)) for h in heads}
    lines = ["  ".join(h.ljust(widths[h]) for h in heads)]
    lines += ["  ".join(str(r[h]).ljust(widths[h]) for h in heads) for r in data]
    lines.append("")
    lines.append("budget: activations x seeds (x grid) of the default study, epochs, training examples; minutes: "
                 "that study's wall time on a 2-core CPU. Run one with 'actlab compare --task NAME'; "
                 "a user's task is PKG.MODULE:FUNC returning an actlab.tasks.Task.")
    return "\n".join(line.rstrip() for line in lines)
