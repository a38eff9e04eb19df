"""A task's study settings: its profile's budget, overridden by what the user gave.

Used by :func:`actlab.compare.sweep.build_study`; kept here so the rule that
turns a task into study settings lives with the tasks.
"""
from __future__ import annotations

from typing import Mapping

from .builtin import DEFAULT
from .definition import TRAINABLE, TaskError
from .registry import get


def study_settings(name: str, profile: str, given: Mapping, seed_profiles: Mapping) -> dict:
    """Study settings for task ``name`` under ``profile``, with the user's ``given`` settings on top.

    The default task keeps the compare profiles (``seed_profiles``: 'default',
    'paper'); every task has 'default' (its budget) and 'test'. A given
    setting that the task sweeps in its grid fixes it instead (``--depth 8``
    with deep-mlp trains depth 8 only); a given grid adds to the task's.
    The dataset ``csv:...`` holds feature vectors, so a task whose model is
    the CNN trains the MLP there unless a model is given.
    """
    if profile not in (*seed_profiles, "test"):
        raise TaskError(f"unknown profile {profile!r}; expected one of {', '.join((*seed_profiles, 'test'))}")
    task = get(name)
    if task.kind not in TRAINABLE:
        raise TaskError(f"task {task.name!r} is a {task.kind} task; 'actlab compare' trains "
                        f"{', '.join(TRAINABLE)} tasks so far (see docs/tasks.md for how {task.name} runs as a "
                        "library)")
    if task.name == DEFAULT and profile in seed_profiles:
        base = {"dataset": task.dataset, "model": task.model, **seed_profiles[profile]}
    elif profile in ("default", "test"):
        base = task.settings(profile)
    else:
        raise TaskError(f"profile {profile!r} belongs to the {DEFAULT} task; task {task.name!r} has the profiles "
                        "'default' and 'test'")
    grid = {key: tuple(values) for key, values in dict(base.pop("grid", None) or {}).items()}
    given = dict(given)
    for key in list(given):
        grid.pop(key, None)
        if key not in ("activations", "grid") and isinstance(given[key], (tuple, list)):
            grid[key] = tuple(given.pop(key))  # several values of one setting (--depth 4,16,32): a sweep
    grid.update(dict(given.get("grid") or ()))
    settings = {**base, **given, "grid": tuple(grid.items()), "task": name.strip(), "metric": task.metric,
                "direction": task.direction}
    if "activations" in settings:
        settings["activations"] = tuple(settings["activations"])
    if str(settings.get("dataset", "")).startswith("csv:") and "model" not in given and settings["model"] == "cnn":
        settings["model"] = "mlp"
    return settings


__all__ = ["TaskError", "study_settings"]
