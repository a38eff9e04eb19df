"""Run a comparison study on any executor, with early stopping and retries recorded in the results store.

:func:`execute` is what :func:`actlab.compare.runner.run_study` trains
with; it adds three things to the plain :func:`actlab.compare.runner.execute`:

* an executor chosen by the caller (e.g. :class:`~actlab.compare.ray_backend.RayExecutor`);
* executors that retry a unit after its worker died: they announce it with a
  :class:`RunsRestarted` event, and the runner sets those runs back to where
  their unit began (its checkpoints, or scratch) before the fresh attempt
  reports;
* early stopping (:mod:`actlab.compare.asha`): a :class:`RunsStopped` event
  ends runs with status ``stopped`` (the store's ``stop_runs``). A stopped
  run keeps its epochs (its curves stay visible), is never restarted on
  resume, and never enters the statistics.

Both events are handled here, by wrapping the executor, so the runner itself
is reused unchanged.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

from ..store import atomic_write
from .executors import EpochEvent, Executor

STOPPED_COLUMNS = ("label", "activation", "grid", "seed", "run_id", "stopped_after_epoch", "planned_epochs",
                   "score", "reason")


@dataclass(frozen=True)
class RunsRestarted:
    """The executor starts these runs again from scratch (their worker died); drop their partial epochs."""

    run_ids: tuple
    reason: str


@dataclass(frozen=True)
class RunsStopped:
    """Early stopping ended these runs after ``epoch``; ``score`` is what the decision was based on."""

    run_ids: tuple
    epoch: int
    score: float
    reason: str


class MissingExtra(ValueError):
    """An optional dependency is not installed (a ValueError, so the CLI prints it as one line)."""


def require_extra(module: str, extra: str, purpose: str):
    """Import an optional dependency, or say exactly what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(f"{purpose} needs the optional package '{module}', which is not installed ({e}); "
                           f"install it with: pip install 'actlab[{extra}]'") from None


def finishes_run(event: EpochEvent, planned_epochs: int) -> bool:
    """Whether this epoch is its run's last: the planned last epoch, or the one where the loss diverged."""
    return bool(event.record.get("diverged")) or int(event.record["epoch"]) >= planned_epochs


# --- stopped runs (kept by the store) -------------------------------------- #
def stopped_runs(store) -> dict:
    """run_id -> {epoch, score, reason} for every run that early stopping ended (empty for plain studies)."""
    return store.stopped_runs()


def record_stopped(store, event: RunsStopped) -> None:
    """Mark the runs of one decision stopped, all or none."""
    store.stop_runs(event.run_ids, event.epoch, event.score, event.reason)


class _StoreEvents:
    """Executor wrapper: applies restarts and stops to the store, passes every other event on."""

    def __init__(self, inner: Executor, store):
        self.inner, self.store = inner, store

    def run(self, units, task, on_event):
        def handle(event) -> None:
            if isinstance(event, RunsRestarted):
                on_event(event)  # the runner restarts them where their unit began (checkpoint or scratch)
            elif isinstance(event, RunsStopped):
                record_stopped(self.store, event)
            else:
                on_event(event)

        self.inner.run(units, task, handle)


# --- running ---------------------------------------------------------------- #
def execute(study, store, executor: Executor, *, early_stop=None, task=None, quiet: bool = False,
            backend: str = "") -> int:
    """:func:`actlab.compare.runner.execute` with restarts and early stopping (an :class:`~.asha.Asha` rule
    or None); stopped runs are never planned again. Returns how many runs were (re)started."""
    from . import runner

    if early_stop is not None:
        from .asha import AshaExecutor, replay

        ladder = replay(store, early_stop)
        for stop in ladder.stops:  # decided before a kill, never stored: stored now, so never resumed
            record_stopped(store, stop)
        executor = AshaExecutor(executor, early_stop, ladder.history, ladder.partial)
    return runner.execute(study, store, _StoreEvents(executor, store), task=task, quiet=quiet, backend=backend)


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


__all__ = ["MissingExtra", "RunsRestarted", "RunsStopped", "STOPPED_COLUMNS", "execute", "finishes_run",
           "format_stopped", "record_stopped", "require_extra", "stopped_rows", "stopped_runs", "write_stopped_csv"]
