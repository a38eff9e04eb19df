"""Learning curves over seeds: one mean line per activation, a band showing the spread of its seeds."""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

METRIC_NAMES = {"acc": "accuracy", "loss": "cross-entropy loss"}
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


def curve_stats(history: Sequence[dict], metric: str, split: str) -> dict[str, dict]:
    """label -> {'epochs', 'mean', 'low', 'high', 'n'} of ``{split}_{metric}`` per epoch over seeds.

    low/high are the minimum and maximum over the seeds that reached that
    epoch with a finite value; n is how many seeds the label has.
    """
    column = f"{split}_{metric}"
    by_label: dict[str, dict[int, list[float]]] = {}
    seeds: dict[str, set] = {}
    for row in history:
        value = row[column]
        seeds.setdefault(row["label"], set()).add(row["seed"])
        values = by_label.setdefault(row["label"], {}).setdefault(row["epoch"], [])
        if value is not None and math.isfinite(value):
            values.append(float(value))
    out = {}
    for label, per_epoch in by_label.items():
        epochs = sorted(e for e, v in per_epoch.items() if v)
        out[label] = {
            "epochs": epochs,
            "mean": [float(np.mean(per_epoch[e])) for e in epochs],
            "low": [min(per_epoch[e]) for e in epochs],
            "high": [max(per_epoch[e]) for e in epochs],
            "n": len(seeds[label]),
        }
    return out


def plot_curves(history: Sequence[dict], metric: str, split: str, path, *,
                order: Optional[Sequence[str]] = None, title: Optional[str] = None) -> None:
    """Save a plot of ``{split}_{metric}`` against epoch, one colour per label, to ``path``."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if metric not in METRIC_NAMES or split not in SPLIT_NAMES:
        raise ValueError(f"cannot plot {split}_{metric}; metric is one of {', '.join(METRIC_NAMES)} "
                         f"and split one of {', '.join(SPLIT_NAMES)}")
    curves = curve_stats(history, metric, split)
    labels = [k for k in (order or []) if k in curves] + sorted(k for k in curves if k not in (order or []))
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    for i, label in enumerate(labels):
        c = curves[label]
        colour = cmap(i % cmap.N)
        ax.plot(c["epochs"], c["mean"], marker="o", markersize=3, color=colour, label=f"{label} (n={c['n']})")
        if c["n"] > 1:
            ax.fill_between(c["epochs"], c["low"], c["high"], color=colour, alpha=0.18, linewidth=0)
    what = f"{SPLIT_NAMES[split]} {METRIC_NAMES[metric]}"
    ax.set_xlabel("epoch")
    ax.set_ylabel(what)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{what.capitalize()} per epoch: line = mean over seeds, band = min to max over seeds",
                 fontsize=10)
    if labels:
        ax.legend(fontsize=8, loc="best")
    else:
        ax.text(0.5, 0.5, "no finished epochs yet", ha="center", va="center", transform=ax.transAxes)
    fig.savefig(path, dpi=120)

