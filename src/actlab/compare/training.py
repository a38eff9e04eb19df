"""What trains a unit of a study: the data a worker loads, the engine's settings, and the default task.

Kept apart from :mod:`.runner` (which plans, executes and records) so that
tasks other than the seed CNN's classification plug in here without touching
the execution loop. Everything here runs in a worker as well as in the
calling process; nothing here writes the results store.
"""
from __future__ import annotations

from dataclasses import fields

from ..store import EPOCH_FIELDS
from .executors import DataSpec, EpochEvent, WorkUnit
from .sweep import Study


def data_spec(study: Study) -> DataSpec:
    return DataSpec(study.dataset, study.data_dir, study.val_fraction, study.train_limit, study.split_seed)


_SPLITS: dict = {}


def load_splits(data: DataSpec, download: bool = False, progress: bool = False):
    """The train/validation/test splits of ``data``; each process loads a dataset once and keeps it.

    A text corpus (``text:FILE``) is a :class:`~actlab.data.text.TextSplits` (contiguous 90/5/5 blocks; the
    split settings do not apply), the fit task's ``grid`` a :class:`~actlab.tasks.fit.GridSplits` (generated).
    """
    from ..data import load_dataset, split
    from ..data.text import load_text_splits
    from ..data.user import is_user_dataset, load_user_dataset
    from ..tasks.fit import GridSplits
    from .objectives import data_kind

    if data not in _SPLITS:
        kind = data_kind(data.dataset)
        if kind == "language-model":
            splits = load_text_splits(data.dataset)
        elif kind == "regression":
            splits = GridSplits()
        else:
            if is_user_dataset(data.dataset):  # npz:, csv:, imagefolder: (their own test part, seeded by split_seed)
                dataset = load_user_dataset(data.dataset, seed=data.split_seed)
            else:
                dataset = load_dataset(data.dataset, data_dir=data.data_dir, download=download, progress=progress)
            splits = split(dataset, val_fraction=data.val_fraction, seed=data.split_seed,
                           train_limit=data.train_limit)
        _SPLITS.clear()  # one study per process: keep at most one dataset in memory
        _SPLITS[data] = splits
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
    from .objectives import objective_of
    from .outputs import environment

    steady_allocator()  # reuse freed memory instead of faulting it in again every step (see its docstring)
    splits = load_splits(unit.data)
    # Train with the thread count this process was given (a pool worker gets its share of the cores).
    configs = [make_train_config({**c, "threads": torch.get_num_threads()}) for c in unit.configs]

    env = {**environment(torch.get_num_threads()), "device": configs[0].device if configs else "cpu"}
    reported: set[int] = set()

    def on_epoch(index: int, record) -> None:
        values = {k: getattr(record, k) for k in ("epoch", "diverged", *EPOCH_FIELDS)}
        if index not in reported:  # where this attempt of the run trains, recorded with its first epoch
            reported.add(index)
            values["env"] = env
        if record.checkpoint is not None:
            values["checkpoint"] = record.checkpoint
        emit(EpochEvent(unit.run_ids[index], values, list(getattr(record, "layers", None) or [])))

    train_group(configs, splits, on_epoch, diagnostics=unit.diagnostics,
                resume=[unit.resume_of(i) for i in range(len(configs))], checkpoints=unit.checkpoints,
                until=unit.until, objective=objective_of(configs[0]) if configs else None)


def validate(study: Study, *, progress: bool = True):
    """Check everything a study needs before any training: data, split, model and every activation.

    Returns the loaded splits. Downloads the dataset if it is missing and
    downloading is possible, so that workers only ever read it.
    """
    from ..data.dataset import EMBEDDED
    from ..data.user import is_user_dataset
    from ..models import build_model
    from .objectives import check_kind, data_kind, objective_of

    configs = [make_train_config(run["config"]) for run in study.runs()[:: study.seeds]]
    for config in configs:  # the data's kind against the task's, before any file is read
        check_kind(study.dataset, config, "" if study.task == "seed-cnn" else study.task)
    if study.data_dir is not None and data_kind(study.dataset) != "classification":
        raise ValueError(f"--data-dir {study.data_dir} was given, but --dataset {study.dataset} reads no folder of "
                         "IDX files; drop --data-dir (it locates the built-in image datasets only)")
    if data_kind(study.dataset) != "classification" and (study.train_limit is not None
                                                         or study.val_fraction != Study.val_fraction):
        raise ValueError(f"--train-limit and --val-fraction split labelled examples; --dataset {study.dataset} has "
                         "its own split (text: contiguous 90/5/5 blocks; grid: alternate grid points); drop them")
    if study.data_dir is not None and study.dataset == EMBEDDED:
        raise ValueError(f"--data-dir {study.data_dir} was given, but the dataset is {EMBEDDED}, which ships "
                         "inside actlab and reads no files; add --dataset mnist (or fashion-mnist) to train on "
                         "the files in that folder, or drop --data-dir")
    if study.data_dir is not None and is_user_dataset(study.dataset):
        raise ValueError(f"--data-dir {study.data_dir} was given, but --dataset {study.dataset} names its file "
                         "itself; drop --data-dir (it locates the built-in datasets only)")
    _SPLITS.clear()  # read the files afresh: the check (and a resume's provenance) must see what is there now
    splits = load_splits(data_spec(study), download=True, progress=progress)
    if data_kind(study.dataset) != "classification":
        for config in configs:
            objective_of(config).check(config, splits)
        return splits
    in_shape = tuple(splits.train_x.shape[1:])
    for run in study.runs()[:: study.seeds]:
        config = run["config"]
        if config["model"] == "cnn" and len(in_shape) != 3:
            raise ValueError(f"--dataset {study.dataset} holds feature vectors of {in_shape[0]} values, not "
                             "images; the CNN needs images [channels, height, width]: add --model mlp")
        build_model(config["model"], config["activation"], in_shape=in_shape, num_classes=len(splits.classes),
                    depth=config["depth"], width=config["width"], batchnorm=config["batchnorm"],
                    init=config["init"], seed=0)
    return splits
