"""The built-in tasks: ``seed-cnn`` (the default study), ``deep-mlp`` (depth, where activations part ways),
``char-lm`` (a character-level transformer's feed-forward activation) and ``fit`` (function fitting).

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
    # 'text' alone: the embedded 20,305-character sample (offline); a study passes --dataset text:FILE.
    dataset="text",
    model="char-transformer",
    loss="cross_entropy",
    metric="bits_per_char",
    direction="min",
    # 4 blocks of width 128, context 128, 4 heads; AdamW 2e-3, batch 32, gradient norm clipped to 1; an epoch
    # is `steps` optimizer steps on random windows.
    budget={"activations": ["gelu", "relu", "relu_squared", "silu", "swiglu", "geglu"], "seeds": 3,
            "epochs": 4, "steps": 75, "depth": 4, "width": 128, "heads": 4, "context": 128, "batch_size": 32,
            "lr": 2e-3, "optimizer": "adamw", "clip_value": None, "clip_norm": 1.0},
    test={"activations": ["gelu", "swiglu", "geglu"], "seeds": 2, "epochs": 3, "steps": 100, "depth": 1,
          "width": 64, "heads": 2, "context": 32, "batch_size": 16, "lr": 5e-3},
    # 18 runs of 300 steps, one thread each, two side by side: measured 94 s (GELU) and 115 s (SwiGLU) of CPU
    # per run on the KJV (bfloat16 linear layers; docs/tasks.md), ~16 min on an idle 2-core machine.
    minutes=16,
)

FIT = Task(
    name="fit",
    summary="regression of 1-D and 2-D functions (actlab.tasks.fit); error inside and outside the training box",
    kind="regression",
    dataset="grid",
    model="plain-mlp",
    loss="mse",
    metric="rmse_out_of_range",
    direction="min",
    # train_fit's network and optimizer (3 x 64, Adam 3e-3, full batches, no clipping); an epoch is `steps` steps.
    budget={"activations": ["relu", "tanh", "silu", "snake"], "seeds": 3,
            "grid": {"target": ["sine", "gauss", "ripple2d"]}, "epochs": 8, "steps": 250, "depth": 3,
            "width": 64, "lr": 3e-3, "clip_value": None},
    test={"activations": ["relu", "snake"], "seeds": 2, "grid": {"target": ["sine"]}, "epochs": 2, "steps": 500},
    # 36 runs of 2,000 full-batch steps: 1.3-7.5 s of CPU each (98 s for all, one thread), measured 2.5 min wall
    # for 'actlab compare --task fit' (two workers) at load ~5 on the 2-core machine (docs/tasks.md).
    minutes=3,
)

BUILTIN = {t.name: t for t in (SEED_CNN, DEEP_MLP, CHAR_LM, FIT)}
DEFAULT = SEED_CNN.name
