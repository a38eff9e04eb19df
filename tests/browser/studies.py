"""Results stores for report tests, written through the real Store API.

The numbers are made up (smooth learning curves plus seed noise) so that
tests can set up exactly the situations the report must show: finished and
unfinished runs, one seed, a run whose loss became NaN, per-layer
diagnostics, and hostile run labels.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from actlab.compare.sweep import build_study
from actlab.store import Store

LAYERS = ("features.0", "features.3", "features.10", "classifier.1")


def make_study(folder, *, activations=("relu", "gelu", "sigmoid"), seeds=3, epochs=4, unfinished=0,
               diverge=None, diagnostics=False, spread=0.03, command="actlab compare --out study") -> Path:
    """Write ``folder/results.sqlite`` (and config.json); returns the folder.

    ``unfinished``: how many of the last runs stop half-way (status running);
    ``diverge``: (index of the activation, seed) whose losses become NaN from epoch 2 on;
    ``spread``: accuracy gap between the first and the last activation (0: indistinguishable).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study = build_study(activations=tuple(activations), seeds=seeds, epochs=epochs, diagnostics=diagnostics)
    rng = np.random.default_rng(0)
    with Store(folder / "results.sqlite") as store:
        store.ensure_study(study.study_id(), study.config(), command, "0.1.0")
        store.add_runs(study.runs())
        runs = store.runs()
        for i, run in enumerate(runs):
            stop = epochs // 2 if i >= len(runs) - unfinished else epochs
            store.restart_run(run["run_id"])
            rank = study.activations.index(run["activation"])
            skill = 0.9 + spread * (len(study.activations) - rank) / len(study.activations)
            for epoch in range(1, stop + 1):
                acc = skill - 0.2 / epoch + rng.normal(0, 0.004)
                nan = diverge == (rank, run["seed"]) and epoch >= 2
                loss = None if nan else float(1.2 - acc)
                record = {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": loss, "val_acc": acc,
                          "test_loss": loss, "test_acc": 0.1 if nan else acc - 0.005, "seconds": 1.5 + 0.1 * i,
                          "samples": 1000 * epoch}
                layers = [{"name": layer, "grad_norm_w": 0.1 * (k + 1) * epoch, "frac_dead": 0.05 * k}
                          for k, layer in enumerate(LAYERS)] if diagnostics else []
                store.record_epoch(run["run_id"], record, layers)
    info = {"command": command, "versions": {"actlab": "0.1.0", "torch": "2.13.0", "python": "3.11"},
            "data": {"dataset": "mnist-small", "train": 900, "val": 100, "test": 1000}, "workers": 1}
    (folder / "config.json").write_text(json.dumps(info))
    return folder
