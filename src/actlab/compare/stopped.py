"""Runs that early stopping ended: read from the store, written to stopped.csv, printed under the ranking.

A stopped run keeps its epochs (its curves stay visible), is never trained
again on resume, and never enters the statistics.
"""
from __future__ import annotations

import csv

from ..store import atomic_write
from .events import RunsStopped

STOPPED_COLUMNS = ("label", "activation", "grid", "seed", "run_id", "stopped_after_epoch", "planned_epochs",
                   "score", "reason")


def stopped_runs(store) -> dict:
    """run_id -> {epoch, score, reason} for every run that early stopping ended (empty for plain studies)."""
    return store.stopped_runs()


def record_stopped(store, event: RunsStopped) -> None:
    """Mark the runs of one decision stopped, all or none."""
    store.stop_runs(event.run_ids, event.epoch, event.score, event.reason)


def stopped_rows(store) -> list[dict]:
    """One row per stopped run (STOPPED_COLUMNS), in run order."""
    from .sweep import describe

    stopped = stopped_runs(store)
    return [{"label": describe(run), "activation": run["activation"],
             "grid": ";".join(f"{k}={v}" for k, v in sorted(run["grid"].items())), "seed": run["seed"],
             "run_id": run["run_id"], "stopped_after_epoch": stopped[run["run_id"]]["epoch"],
             "planned_epochs": run["epochs"], "score": stopped[run["run_id"]]["score"],
             "reason": stopped[run["run_id"]]["reason"]}
            for run in store.runs() if run["run_id"] in stopped]


def write_stopped_csv(store, path) -> bool:
    """stopped.csv, when early stopping ended any run; returns whether it was written."""
    rows = stopped_rows(store)
    if not rows:
        return False
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(STOPPED_COLUMNS)
        for row in rows:
            w.writerow([row[c] for c in STOPPED_COLUMNS])
    return True


def format_stopped(store) -> str:
    """One line per stopped configuration, for printing under the ranking ('' when none)."""
    groups: dict[str, dict] = {}
    for row in stopped_rows(store):
        groups.setdefault(row["label"], row)
    return "\n".join(f"stopped early: {label} after epoch {row['stopped_after_epoch']}/{row['planned_epochs']} "
                     f"({row['reason']}); not ranked" for label, row in groups.items())
