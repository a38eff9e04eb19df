"""Which objective trains a run, and which kind of data a dataset spec holds.

An objective is what differs between task kinds inside the engine: the
model, one epoch of training, the evaluation of validation and test (the
members are listed in :class:`~actlab.compare.engine.Classification`).
Everything else (seeds and their private random streams, checkpoints,
rounds, divergence, threads, executors) is the engine's, shared.

- classification: :data:`~actlab.compare.engine.CLASSIFICATION`
- language-model: :data:`~actlab.compare.objectives_lm.LANGUAGE_MODEL`
- regression: :data:`~actlab.compare.objectives_fit.REGRESSION`
"""
from __future__ import annotations

from ..data.text import PREFIX as TEXT_PREFIX
from ..tasks.fit import GRID
from .engine import CLASSIFICATION, TrainConfig
from .objectives_fit import REGRESSION
from .objectives_lm import LANGUAGE_MODEL

OBJECTIVES = {o.kind: o for o in (CLASSIFICATION, LANGUAGE_MODEL, REGRESSION)}
# What each kind trains on, in words: the refusal of a dataset of the wrong kind names it.
DATA_OF_KIND = {
    "classification": "labelled examples (mnist-small, mnist, fashion-mnist, npz:, csv:, imagefolder:)",
    "language-model": "a text corpus (text:FILE, any UTF-8 text, plain or gzip; 'text' alone: the embedded sample)",
    "regression": f"the generated grids of the fit targets (dataset '{GRID}')",
}


def objective_of(config: TrainConfig):
    """The objective that trains ``config`` (by :attr:`TrainConfig.kind`)."""
    return OBJECTIVES[config.kind]


def is_text(dataset: str) -> bool:
    """Whether a dataset spec names a text corpus ('text' or 'text:FILE')."""
    return dataset == "text" or dataset.startswith(TEXT_PREFIX)


def data_kind(dataset: str) -> str:
    """The task kind whose data ``dataset`` holds: 'language-model' (text), 'regression' (grid), else classification."""
    if is_text(dataset):
        return "language-model"
    return "regression" if dataset == GRID else "classification"


def check_kind(dataset: str, config: TrainConfig, task: str = "") -> None:
    """Refuse, in one line, a dataset of another kind than the run's (text for a classifier, images for char-lm)."""
    have, need = data_kind(dataset), config.kind
    if have != need:
        what = f"task {task}" if task else f"model {config.model!r}"
        raise ValueError(f"--dataset {dataset} holds {DATA_OF_KIND[have]}, but {what} trains a {need} model, "
                         f"which needs {DATA_OF_KIND[need]}; give such a --dataset, or choose a task for this data "
                         "(see 'actlab tasks')")
