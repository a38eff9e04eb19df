"""Run a comparison study on any executor, with early stopping and retries recorded in the results store.

:func:`execute` is what :func:`actlab.compare.runner.run_study` trains
with; it adds three things to the plain :func:`actlab.compare.runner.execute`:

* an executor chosen by the caller (e.g. :class:`~actlab.compare.ray_backend.RayExecutor`);
* executors that retry a unit after its worker died: they announce it with a
  :class:`RunsRestarted` event and the partial epochs of those runs are
  deleted (``Store.restart_run``) before the fresh attempt reports;
* early stopping (:mod:`actlab.compare.asha`): a :class:`RunsStopped` event
  records runs as stopped in the ``stopped_runs`` table of the same SQLite
  file. A stopped run keeps its epochs (its curves stay visible), is never
  restarted on resume, and never enters the statistics (only runs with
  status ``done`` do).

Both events are handled here, by wrapping the executor, so the runner itself
is reused unchanged.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from .executors import EpochEvent, Executor

STOPPED_SCHEMA = """
CREATE TABLE IF NOT EXISTS stopped_runs (
    run_id   INTEGER PRIMARY KEY REFERENCES runs (run_id),
    epoch    INTEGER NOT NULL,
    score    REAL,
    reason   TEXT    NOT NULL,
    recorded TEXT    NOT NULL
);
"""
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


# --- the stopped_runs table ------------------------------------------------ #
def _ensure_table(store) -> None:
    store.conn.executescript(STOPPED_SCHEMA)


def stopped_runs(store) -> dict:
    """run_id -> {epoch, score, reason} for every run that early stopping ended (empty for plain studies)."""
    present = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stopped_runs'").fetchone()
    if not present:
        return {}
    rows = store.conn.execute("SELECT run_id, epoch, score, reason FROM stopped_runs ORDER BY run_id")
    return {r[0]: {"epoch": r[1], "score": r[2], "reason": r[3]} for r in rows}


def record_stopped(store, event: RunsStopped) -> None:
    _ensure_table(store)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with store.conn:  # all runs of the decision, or none
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.executemany(
            "INSERT OR REPLACE INTO stopped_runs (run_id, epoch, score, reason, recorded) VALUES (?, ?, ?, ?, ?)",
            [(run_id, event.epoch, event.score, event.reason, now) for run_id in event.run_ids])


class _WithoutStopped:
    """The store as the runner should see it: stopped runs are neither planned nor restarted."""

    def __init__(self, store, stopped):
        self._store, self._stopped = store, set(stopped)

    def runs(self, status: Optional[str] = None) -> list:
        return [r for r in self._store.runs(status) if r["run_id"] not in self._stopped]

    def __getattr__(self, name):
        return getattr(self._store, name)


class _StoreEvents:
    """Executor wrapper: applies restarts and stops to the store, passes every other event on."""

    def __init__(self, inner: Executor, store):
        self.inner, self.store = inner, store

    def run(self, units, task, on_event):
        def handle(event) -> None:
            if isinstance(event, RunsRestarted):
                for run_id in event.run_ids:
                    self.store.restart_run(run_id)
            elif isinstance(event, RunsStopped):
                record_stopped(self.store, event)
            else:
                on_event(event)

        self.inner.run(units, task, handle)


# --- running ---------------------------------------------------------------- #
def execute(study, store, executor: Executor, *, early_stop=None, task=None, quiet: bool = False) -> int:
    """:func:`actlab.compare.runner.execute` with restarts, early stopping (an :class:`~.asha.Asha` rule or
    None) and stopped runs honoured; returns how many runs were (re)started."""
    from . import runner

    stopped = stopped_runs(store)
    if early_stop is not None:
        from .asha import AshaExecutor, history

        executor = AshaExecutor(executor, early_stop, history(store, early_stop, stopped))
    return runner.execute(study, _WithoutStopped(store, stopped), _StoreEvents(executor, store),
                          task=task, quiet=quiet)


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
    with open(path, "w", newline="") as f:
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
