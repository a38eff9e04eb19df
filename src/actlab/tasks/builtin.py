"""The built-in tasks: ``seed-cnn`` (the default study) and ``deep-mlp`` (depth, where activations part ways).

Budgets are sized so that six activations x three seeds finish in about the
stated minutes on a 2-core CPU (docs/tasks.md has the measurements); the
``test`` profile is what the tests train.
"""
from __future__ import annotations

from .definition import Task

SEED_CNN = Task(
    name="seed-cnn",
    summary="the seed CNN (Keras' MNIST example) on 28x28 grey images: the default study",
    dataset="mnist-small",
    model="cnn",
    # The compare 'default' profile (actlab.compare.sweep.PROFILES), which this task keeps unchanged.
    budget={"epochs": 3, "train_limit": 4000},
    test={"epochs": 1, "train_limit": 600, "seeds": 2},
    # The default study: 12 runs (six activations x two seeds) x 3 epochs x ~4.7 s (docs/compare.md, "Time")
    # plus start-up, about 3-5 minutes; with three seeds (--seeds 3) about 7.
    minutes=5,
)

DEEP_MLP = Task(
    name="deep-mlp",
    summary="plain fully connected networks (no normalisation, no dropout) on Fashion-MNIST, swept over depth",
    dataset="fashion-mnist",
    model="plain-mlp",
    budget={"activations": ["sigmoid", "tanh", "relu", "elu", "selu", "gelu"], "seeds": 3,
            "grid": {"depth": [4, 16, 32, 64]}, "width": 128, "epochs": 5, "train_limit": 10000},
    test={"activations": ["selu", "sigmoid"], "seeds": 2, "grid": {"depth": [32]}, "epochs": 3,
          "train_limit": 3000},
    # 72 runs; one thread per run trains 10,000 images x 5 epochs (plus evaluation) in ~4.5 s at depth 4
    # and ~25 s at depth 64, ~12 s at depth 32 (docs/tasks.md has the measurements): ~12 s per run on
    # average, two runs side by side on 2 cores: ~8 min quiet, ~15 min on a loaded machine.
    minutes=15,
)

CHAR_LM = Task(
    name="char-lm",
    summary="a small character-level transformer (actlab.tasks.charlm); metric bits per character",
    kind="language-model",
    dataset="text:kjv.txt.gz",
    model="char-transformer",
    loss="cross_entropy",
    metric="bits_per_char",
    direction="min",
)

FIT = Task(
    name="fit",
    summary="regression of 1-D and 2-D functions (actlab.tasks.fit); error inside and outside the training box",
    kind="regression",
    dataset="grid:sine|gauss|ripple2d",
    model="plain-mlp",
    loss="mse",
    metric="rmse_out_of_range",
    direction="min",
)

BUILTIN = {t.name: t for t in (SEED_CNN, DEEP_MLP, CHAR_LM, FIT)}
DEFAULT = SEED_CNN.name
