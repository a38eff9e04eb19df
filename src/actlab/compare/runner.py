"""Drive a study: validate it, plan the unfinished runs, execute them in rounds, and record every epoch.

This is the one execution loop: compare, tuning's trials, racing and every
executor (in-process, process pool, Ray) train through :func:`execute`.

Where resume is decided: here, in :func:`plan` and :func:`execute`. A run
that ended (done, diverged or stopped) is never trained again. Every other
run continues from its last stored epoch k when the checkpoint of epoch k is
there (``<out>/checkpoints``, see :class:`~actlab.store.Checkpoints`), else
from scratch; its epochs after k are deleted in the same transaction that
marks it running. The checkpoint holds every random stream, so on CPU the
resumed run gives the same numbers as one never interrupted. A resume must
match the stored configuration and data.

Rounds: ``execute(..., until=r)`` trains every unfinished run no further than
epoch r; a run paused there stays ``running`` with the checkpoint of epoch r,
and the next call continues it. Early stopping is a loop of rounds: train
every live run to rung r, decide the whole rung from the store
(:func:`actlab.compare.halving.decide_rung`), next rung; the asynchronous
variant (``Asha(asynchronous=True)``) wraps the executor instead.

Where an epoch is written: :func:`execute`'s ``on_event`` (checkpoint file,
then the store's ``record_epoch``, then the older checkpoint removed).

One writer per study: the study folder is locked (:class:`~actlab.store.StudyLock`)
from before the store is opened until the outputs are written.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional, Union

from ..store import Checkpoints, Store, StoreError, StudyLock, canonical_json
from ..store.files import remove_temporaries
from .events import RunsRestarted, RunsStopped
from .executors import AUTO, DataSpec, Executor, Task, UnitDone, UnitStarted, WorkUnit, resolve_workers
from .sweep import Study, describe
from .training import data_spec, load_splits, make_train_config, train_unit, validate  # noqa: F401 (re-exported)


def plan(store: Store, diagnostics: bool, data: DataSpec, checkpoints: Optional[Checkpoints] = None,
         until: Optional[int] = None) -> list[WorkUnit]:
    """Work units for every unfinished run: one unit per activation x grid point (x tuning trial), holding its
    seeds, each with the checkpoint of its last stored epoch to continue from (None: from scratch).

    ``until``: the round's last epoch; a run already there (paused at it) has nothing to do in this round.
    """
    groups: dict[tuple, list[dict]] = {}
    for run in store.runs(trials=True):
        if run["status"] in ("pending", "running"):
            if until is not None and store.stored_epochs(run["run_id"]) >= min(until, run["epochs"]):
                continue
            key = (run["activation"], canonical_json(run["grid"]), run.get("trial"))
            groups.setdefault(key, []).append(run)

    def resume(run) -> Optional[bytes]:
        return checkpoints.read(run["run_id"], store.stored_epochs(run["run_id"])) if checkpoints else None

    return [WorkUnit(i, tuple(r["run_id"] for r in runs), tuple(r["config"] for r in runs), data, diagnostics,
                     tuple(resume(r) for r in runs), checkpoints is not None, until)
            for i, runs in enumerate(groups.values())]


def execute(study: Study, store: Store, executor: Executor, *, task: Optional[Task] = None,
            quiet: bool = False, backend: str = "", early_stop=None, until: Optional[int] = None,
            paused: frozenset = frozenset()) -> int:
    """Train every unfinished run of ``study`` into ``store``, no further than epoch ``until`` (None: to the
    end); returns how many runs were (re)started.

    ``paused``: run ids the caller itself paused at an epoch in an earlier call of the same invocation (a
    budgeted race's epoch-steps): they continue from their checkpoint without counting a new attempt.

    ``early_stop``: None, or an :class:`~actlab.compare.asha.Asha` rule. Synchronous (the default rule):
    rounds to each rung epoch, each rung decided over all its configurations at once
    (:mod:`actlab.compare.halving`); asynchronous: promotions as runs arrive
    (:class:`~actlab.compare.asha.AshaExecutor`).
    """
    if early_stop is None:
        return len(_round(study, store, executor, task, quiet, backend, until, set(paused)))
    if not quiet:
        print(f"actlab: {early_stop.describe(r['epochs'] for r in store.runs())}", file=sys.stderr)
    if early_stop.asynchronous:
        from .asha import AshaExecutor, replay

        ladder = replay(store, early_stop)
        for stop in ladder.stops:  # decided before a kill, never stored: stored now, so never resumed
            store.stop_runs(stop.run_ids, stop.epoch, stop.score, stop.reason)
        executor = AshaExecutor(executor, early_stop, ladder.history, ladder.partial)
        return len(_round(study, store, executor, task, quiet, backend, until, set()))
    from .halving import decide_rung, rung_epochs

    trained: set = set()
    paused: set = set()  # runs this call paused at a rung: the next round continues them, no new attempt
    for rung in rung_epochs(store.runs(), early_stop):
        if until is not None and rung > until:
            break
        trained |= _round(study, store, executor, task, quiet, backend, rung, paused)
        decide_rung(store, early_stop, rung)
        paused = {r["run_id"] for r in store.runs() if r["status"] == "running"}
    trained |= _round(study, store, executor, task, quiet, backend, until, paused)  # past the last rung
    Checkpoints(store.path.parent).remove_ended(r["run_id"] for r in store.runs(trials=True)
                                                if r["status"] in ("pending", "running"))
    return len(trained)


def _round(study: Study, store: Store, executor: Executor, task: Optional[Task], quiet: bool, backend: str,
           until: Optional[int], paused: set) -> set:
    """One call of the executor: every unfinished run trained up to ``until``; returns the run ids it trained.
    ``paused``: runs paused at this round's start by the same :func:`execute` call (continued, not restarted)."""
    from tqdm import tqdm

    checkpoints = Checkpoints(store.path.parent)
    units = plan(store, study.diagnostics, data_spec(study), checkpoints, until)
    # Each run continues after the epoch its checkpoint holds (0: from scratch).
    after = {run_id: store.stored_epochs(run_id) if u.resume_of(i) is not None else 0
             for u in units for i, run_id in enumerate(u.run_ids)}
    by_id = {u.unit_id: u for u in units}
    unit_of = {run_id: u.unit_id for u in units for run_id in u.run_ids}
    started: set[int] = set()
    runs = {r["run_id"]: r for r in store.runs(trials=True)}
    last = {i: min(runs[i]["epochs"], until or runs[i]["epochs"]) for i in unit_of}
    total = sum(last[i] - after[i] for i in unit_of)
    desc = "compare" if until is None else f"to epoch {until}"
    bar = tqdm(total=total, unit="epoch", desc=desc, disable=quiet or total == 0,
               file=sys.stderr, dynamic_ncols=True)

    def start(unit_id: int) -> None:
        # A unit starts at its UnitStarted event, or at its first epoch for an executor that sends none.
        if unit_id not in started:
            started.add(unit_id)
            restart([i for i in by_id[unit_id].run_ids if not (i in paused and after[i])])

    def restart(run_ids) -> None:
        for run_id in run_ids:
            store.restart_run(run_id, env={"backend": backend} if backend else None, after_epoch=after[run_id])
            checkpoints.keep_only(run_id, after[run_id] or None)

    def on_event(event) -> None:
        if isinstance(event, UnitStarted):
            start(event.unit_id)
            return
        if isinstance(event, UnitDone):
            return
        if isinstance(event, RunsRestarted):  # a worker died: its retry continues where the unit began
            restart(event.run_ids)
            return
        if isinstance(event, RunsStopped):  # asynchronous early stopping ended them
            store.stop_runs(event.run_ids, event.epoch, event.score, event.reason)
            return
        start(unit_of[event.run_id])
        epoch, blob = int(event.record["epoch"]), event.record.pop("checkpoint", None)
        if blob is not None:
            checkpoints.write(event.run_id, epoch, blob)
        ended = store.record_epoch(event.run_id, event.record, event.layers)
        checkpoints.keep_only(event.run_id, None if ended else epoch)
        run = runs[event.run_id]
        bar.set_postfix_str(f"{describe(run)} seed {run['seed']} epoch {event.record['epoch']}/{run['epochs']} "
                            f"val_acc {_shown(event.record.get('val_acc'))}", refresh=False)
        bar.update(1)

    try:
        executor.run(units, task or train_unit, on_event)
        checkpoints.remove_ended(r["run_id"] for r in store.runs(trials=True) if r["status"] in ("pending", "running"))
    finally:
        bar.close()
    return set(unit_of)


def _shown(value) -> str:
    return "nan" if value is None else f"{value:.3f}"


def backend_name(executor) -> str:
    """How a study's runs execute, in words: 'in-process', 'process-pool' or 'ray'."""
    return getattr(executor, "name", None) or type(executor).__name__


@contextmanager
def open_study(out: Path, study, study_id: str, config: dict, command: str, executor, workers, *, quiet: bool):
    """Validate the data, take the study's folder and lock, open its store and record this invocation.

    Yields (store, executor, splits). Shared by ``run_study`` and tuning's
    ``run_tune``: bad input fails before the folder is created; a store of
    another study or other data is refused; the data line is printed once.
    """
    import socket

    from .._version import __version__
    from .executors import make_executor

    splits = validate(study, progress=not quiet)  # bad input fails before the folder is created
    with study_folder(out, command):
        executor = executor or make_executor(workers)
        with Store(out / "results.sqlite") as store:
            store.ensure_study(study_id, config, command, __version__, data=splits.provenance)
            store.add_invocation(command, os.getpid(), socket.gethostname())
            print(f"actlab: {describe_data(splits)}", file=sys.stderr)
            yield store, executor, splits


@contextmanager
def study_folder(out_dir, command: str = ""):
    """Hold ``out_dir`` as the one writer of its study: checked, created if new, and locked.

    Refused before anything is written: an ``out_dir`` that is a file, a
    results store that is foreign or damaged (left unchanged), and a study
    another process is writing (:class:`~actlab.store.StudyBusy`, naming it).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise StoreError(f"--out {out} is a file, not a folder; give a new or existing study folder "
                         "(the file was left unchanged)")
    out.mkdir(parents=True, exist_ok=True)
    lock = StudyLock(out, command)
    had_lock_file = lock.path.exists()
    lock.acquire()  # first: a store being created by its writer is never judged half-made
    try:
        if (out / "results.sqlite").exists():
            try:
                Store(out / "results.sqlite", readonly=True).close()  # foreign or damaged: refused, untouched
            except StoreError:
                if not had_lock_file:  # leave a foreign folder exactly as it was
                    lock.path.unlink(missing_ok=True)
                raise
        remove_temporaries(out)  # output files half-written by a killed writer of this study
        yield lock
    finally:
        lock.release()


def describe_data(splits) -> str:
    """One line on what a study trains on: dataset, images per split, source."""
    if hasattr(splits, "describe"):  # a corpus (characters) or generated functions (points): their own words
        return splits.describe()
    p = splits.provenance
    official = all(f.get("official") for f in (p.get("files") or {}).values())
    files = "official files (SHA-256 verified)" if p.get("files") and official else "files recorded by SHA-256"
    return (f"data: {p.get('dataset', splits.dataset)}: {len(splits.train_y):,} train, {len(splits.val_y):,} "
            f"validation, {len(splits.test_y):,} test images, from {p.get('source', '?')} ({files})")


def run_study(study: Study, out_dir, *, workers: Union[int, str] = AUTO, executor=None, early_stop=None,
              quiet: bool = False, command: str = "", task: Optional[Task] = None):
    """Validate, then train every unfinished run into ``out_dir``/results.sqlite and write the outputs.

    ``workers``: processes training side by side (see :func:`~actlab.compare.executors.resolve_workers`;
    ``'auto'``, the default, uses every core, one run and one thread per process).
    ``executor``: where the runs train instead (e.g. a Ray executor from
    :func:`~actlab.compare.executors.make_executor`); ``early_stop``: an
    :class:`~actlab.compare.asha.Asha` rule that stops losing configurations
    early (stopped runs are listed in stopped.csv, never ranked).

    Re-running with the same study, data and folder resumes; a different
    study or different data in the same folder is refused before any
    training, as is a folder another process is writing. Returns the
    :class:`~actlab.compare.outputs.Summary`.
    """
    from .outputs import write_config_json, write_outputs
    from .stopped import write_stopped_csv

    workers = resolve_workers(workers, len(study.runs()))
    out = Path(out_dir)
    with open_study(out, study, study.study_id(), study.config(), command, executor, workers,
                    quiet=quiet) as (store, executor, splits):
        store.add_runs(study.runs())
        write_config_json(out / "config.json", study, store, splits, workers, backend_name(executor))
        execute(study, store, executor, early_stop=early_stop, task=task, quiet=quiet,
                backend=backend_name(executor))
        summary = write_outputs(store, out)
        write_stopped_csv(store, out / "stopped.csv")
    return summary  # the report is the caller's to ask for (the CLI writes report.html)
