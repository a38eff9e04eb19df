"""A suite: one set of activations studied on several tasks, each task a study of its own in one folder.

    from actlab.compare.suite import run_suite
    folders = run_suite(["relu", "gelu", "tanh"], ["seed-cnn", "deep-mlp"], "runs/suite")

Each task trains into ``<out>/<task>`` exactly as ``actlab compare --task
<task> --out <out>/<task>`` would (its own store, lock, provenance and
resume), with the task's default budget (or its small ``test`` profile); a
rerun resumes every task. The matrix page (``actlab suite``'s index.html)
is drawn from those folders by :mod:`actlab.report.suite_page`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence


def task_folder(task: str) -> str:
    """The sub-folder of a task's study: its name, with characters unsafe in a path replaced."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", task)


def check_tasks(tasks: Sequence[str]) -> list:
    """The Task definitions, refused before any training when one is unknown or cannot be trained yet."""
    from ..tasks import TRAINABLE, get

    if not tasks:
        raise ValueError("a suite needs at least one task; e.g. --tasks seed-cnn,deep-mlp (see 'actlab tasks')")
    out = []
    for name in tasks:
        task = get(name)
        if task.kind not in TRAINABLE:
            raise ValueError(f"task {name!r} is a {task.kind} task, which actlab compare cannot train yet (it runs "
                             f"as a library); leave it out of --tasks. Trainable: "
                             + ", ".join(n for n in _names() if get(n).kind in TRAINABLE))
        out.append(task)
    return out


def _names():
    from ..tasks import names

    return names()


def run_suite(activations: Sequence[str], tasks: Sequence[str], out_dir, *, profile: str = "default",
              seeds: Optional[int] = None, data_dir: Optional[str] = None, workers="auto", quiet: bool = False,
              command: str = "", settings: Optional[dict] = None,
              datasets: Optional[dict] = None) -> dict[str, Path]:
    """Train every task's study (activations x the task's budget) into ``out_dir``/<task>; returns
    {task: folder}. Every task is validated before the first one trains. ``datasets``: {task: dataset spec}
    for the tasks that should not use their default dataset (e.g. ``{"char-lm": "text:kjv.txt.gz"}``)."""
    from .runner import run_study
    from .sweep import build_study

    from ..data.dataset import EMBEDDED

    definitions = check_tasks(tasks)
    datasets = dict(datasets or {})
    unknown = sorted(set(datasets) - set(tasks))
    if unknown:
        raise ValueError(f"--dataset names the task(s) {', '.join(unknown)}, which are not in --tasks "
                         f"{','.join(tasks)}; give TASK=SPEC for a task of the suite, e.g. char-lm=text:corpus.txt.gz")
    out = Path(out_dir)
    extra = {k: v for k, v in (settings or {}).items() if v is not None}
    # --data-dir is where the IDX files are; a task on the embedded data, a corpus or generated functions reads none.
    studies = {name: build_study(profile, task=name, activations=tuple(activations), seeds=seeds,
                                 dataset=datasets.get(name),
                                 data_dir=None if task.dataset == EMBEDDED or task.kind != "classification"
                                 else data_dir, **extra)
               for name, task in zip(tasks, definitions)}
    folders = {}
    for name, study in studies.items():
        folder = out / task_folder(name)
        run_study(study, folder, workers=workers, quiet=quiet, command=f"{command} [task {name}]".strip())
        folders[name] = folder
    return folders
