"""Run a comparison study on any executor, with early stopping and retries recorded in the results store.

Kept as the entry point others call (racing, tuning, benchmarks); the work is
done by the one execution loop, :func:`actlab.compare.runner.execute`:

* an executor chosen by the caller (in-process, a process pool, or Ray;
  :func:`actlab.compare.executors.make_executor` builds any of them);
* executors that retry a unit after its worker died announce it with a
  :class:`~actlab.compare.events.RunsRestarted` event, and the loop sets
  those runs back to where their unit began (its checkpoints, or scratch);
* early stopping: synchronous successive halving by default
  (:mod:`actlab.compare.halving`: train every live run to a rung, decide the
  whole rung, next rung), or asynchronous ASHA when asked for
  (``Asha(asynchronous=True)``, :mod:`actlab.compare.asha`). Stopped runs get
  status ``stopped`` (:mod:`actlab.compare.stopped`), keep their epochs, are
  never restarted on resume, and never enter the statistics.
"""
from __future__ import annotations

from .events import MissingExtra, RunsRestarted, RunsStopped, finishes_run, require_extra
from .stopped import (STOPPED_COLUMNS, format_stopped, record_stopped, stopped_rows, stopped_runs,
                      write_stopped_csv)


def execute(study, store, executor, *, early_stop=None, task=None, quiet: bool = False, backend: str = "",
            until=None, paused: frozenset = frozenset()) -> int:
    """Train every unfinished run of ``study`` into ``store`` (see :func:`actlab.compare.runner.execute`):
    ``early_stop`` an :class:`~actlab.compare.asha.Asha` rule or None, ``until`` the epoch this call trains
    to at most (None: to the end), ``paused`` runs this invocation paused earlier (no new attempt). Returns how
    many runs were (re)started."""
    from .runner import execute as run_loop

    return run_loop(study, store, executor, early_stop=early_stop, task=task, quiet=quiet, backend=backend,
                    until=until, paused=paused)


__all__ = ["MissingExtra", "RunsRestarted", "RunsStopped", "STOPPED_COLUMNS", "execute", "finishes_run",
           "format_stopped", "record_stopped", "require_extra", "stopped_rows", "stopped_runs", "write_stopped_csv"]
