"""Drive a study: validate it, plan the unfinished runs, execute them, and record every epoch.

Resume rule: a run marked done in the store is never trained again; every
other run is restarted from scratch when its unit starts (its partial epochs
are deleted in the same transaction that marks it running) and trained in
full.
"""
from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Optional, Union

from ..store import EPOCH_FIELDS, Store, canonical_json
from .executors import (AUTO, DataSpec, EpochEvent, Executor, Task, UnitDone, UnitStarted, WorkUnit,
                        resolve_workers)
from .sweep import Study, describe


def data_spec(study: Study) -> DataSpec:
    return DataSpec(study.dataset, study.data_dir, study.val_fraction, study.train_limit, study.split_seed)


_SPLITS: dict = {}


def load_splits(data: DataSpec, download: bool = False, progress: bool = False):
    """The train/validation/test splits of ``data``; each process loads a dataset once and keeps it."""
    from ..data import load_dataset, split

    if data not in _SPLITS:
        dataset = load_dataset(data.dataset, data_dir=data.data_dir, download=download, progress=progress)
        _SPLITS.clear()  # one study per process: keep at most one dataset in memory
        _SPLITS[data] = split(dataset, val_fraction=data.val_fraction, seed=data.split_seed,
                              train_limit=data.train_limit)
    return _SPLITS[data]


def make_train_config(settings: dict):
    """An engine TrainConfig from a run's settings; a setting the engine does not know is an error, never dropped."""
    from .engine import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise RuntimeError(f"the training engine's TrainConfig has no field(s) {', '.join(unknown)}; "
                           "this is a bug in actlab, please report it")
    return TrainConfig(**settings)


def train_unit(unit: WorkUnit, emit) -> None:
    """The default task: train a unit's runs with the compare engine, emitting every epoch."""
    import torch

    from .engine import steady_allocator, train_group

    steady_allocator()  # reuse freed memory instead of faulting it in again every step (see its docstring)
    splits = load_splits(unit.data)
    # Train with the thread count this process was given (a pool worker gets its share of the cores).
    configs = [make_train_config({**c, "threads": torch.get_num_threads()}) for c in unit.configs]

    def on_epoch(index: int, record) -> None:
        values = {k: getattr(record, k) for k in ("epoch", "diverged", *EPOCH_FIELDS)}
        emit(EpochEvent(unit.run_ids[index], values, list(getattr(record, "layers", None) or [])))

    train_group(configs, splits, on_epoch, diagnostics=unit.diagnostics)


def validate(study: Study, *, progress: bool = True):
    """Check everything a study needs before any training: data, split, model and every activation.

    Returns the loaded splits. Downloads the dataset if it is missing and
    downloading is possible, so that workers only ever read it.
    """
    from ..data.dataset import EMBEDDED
    from ..models import build_model

    if study.data_dir is not None and study.dataset == EMBEDDED:
        raise ValueError(f"--data-dir {study.data_dir} was given, but the dataset is {EMBEDDED}, which ships "
                         "inside actlab and reads no files; add --dataset mnist (or fashion-mnist) to train on "
                         "the files in that folder, or drop --data-dir")
    splits = load_splits(data_spec(study), download=True, progress=progress)
    in_shape = tuple(splits.train_x.shape[1:])
    for run in study.runs()[:: study.seeds]:
        config = run["config"]
        make_train_config(config)
        build_model(config["model"], config["activation"], in_shape=in_shape, num_classes=len(splits.classes),
                    depth=config["depth"], width=config["width"], batchnorm=config["batchnorm"],
                    init=config["init"], seed=0)
    return splits


def plan(store: Store, diagnostics: bool, data: DataSpec) -> list[WorkUnit]:
    """Work units for every unfinished run: one unit per activation x grid point, holding its seeds."""
    groups: dict[tuple, list[dict]] = {}
    for run in store.runs():
        if run["status"] != "done":
            groups.setdefault((run["activation"], canonical_json(run["grid"])), []).append(run)
    return [WorkUnit(i, tuple(r["run_id"] for r in runs), tuple(r["config"] for r in runs), data, diagnostics)
            for i, runs in enumerate(groups.values())]


def execute(study: Study, store: Store, executor: Executor, *, task: Optional[Task] = None,
            quiet: bool = False) -> int:
    """Train every unfinished run of ``study`` into ``store``; returns how many runs were (re)trained."""
    from tqdm import tqdm

    units = plan(store, study.diagnostics, data_spec(study))
    by_id = {u.unit_id: u for u in units}
    unit_of = {run_id: u.unit_id for u in units for run_id in u.run_ids}
    started: set[int] = set()
    runs = {r["run_id"]: r for r in store.runs()}
    total = sum(runs[i]["epochs"] for u in units for i in u.run_ids)
    bar = tqdm(total=total, unit="epoch", desc="compare", disable=quiet or total == 0,
               file=sys.stderr, dynamic_ncols=True)

    def start(unit_id: int) -> None:
        # A unit starts at its UnitStarted event, or at its first epoch for an executor that sends none.
        if unit_id not in started:
            started.add(unit_id)
            for run_id in by_id[unit_id].run_ids:
                store.restart_run(run_id)

    def on_event(event) -> None:
        if isinstance(event, UnitStarted):
            start(event.unit_id)
            return
        if isinstance(event, UnitDone):
            return
        start(unit_of[event.run_id])
        store.record_epoch(event.run_id, event.record, event.layers)
        run = runs[event.run_id]
        bar.set_postfix_str(f"{describe(run)} seed {run['seed']} epoch {event.record['epoch']}/{run['epochs']} "
                            f"val_acc {event.record['val_acc']:.3f}", refresh=False)
        bar.update(1)

    try:
        executor.run(units, task or train_unit, on_event)
    finally:
        bar.close()
    return sum(len(u.run_ids) for u in units)


def run_study(study: Study, out_dir, *, workers: Union[int, str] = AUTO, executor=None, early_stop=None,
              quiet: bool = False, command: str = "", task: Optional[Task] = None):
    """Validate, then train every unfinished run into ``out_dir``/results.sqlite and write the outputs.

    ``workers``: processes training side by side (see :func:`~actlab.compare.executors.resolve_workers`;
    ``'auto'``, the default, uses every core, one run and one thread per process).
    ``executor``: where the runs train instead (e.g. a Ray executor from
    :func:`~actlab.compare.ray_backend.make_backend`); ``early_stop``: an
    :class:`~actlab.compare.asha.Asha` rule that stops losing configurations
    early (stopped runs are listed in stopped.csv, never ranked).

    Re-running with the same study and folder resumes; a different study in
    the same folder is refused before any training. Returns the
    :class:`~actlab.compare.outputs.Summary`.
    """
    from .. import __version__
    from . import scaleout
    from .executors import make_executor
    from .outputs import write_config_json, write_outputs

    workers = resolve_workers(workers, len(study.runs()))
    splits = validate(study, progress=not quiet)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with Store(out / "results.sqlite") as store:
        store.ensure_study(study.study_id(), study.config(), command, __version__)
        store.add_runs(study.runs())
        write_config_json(out / "config.json", study, store.study(), command, splits, workers)
        scaleout.execute(study, store, executor or make_executor(workers), early_stop=early_stop, task=task,
                         quiet=quiet)
        summary = write_outputs(store, out)
        scaleout.write_stopped_csv(store, out / "stopped.csv")
    from ..report import write_study_report

    write_study_report(out)
    return summary
