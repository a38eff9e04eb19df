"""Matplotlib figures for the diagnoser and the gradient experiments (headless-safe)."""
from __future__ import annotations

import math
from pathlib import Path


def figure(ncols: int = 1, width: float = 6.0, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def finish(fig, path) -> None:
    """Save ``fig`` to ``path`` (parents created) when a path is given."""
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)


def positive(values):
    """Values for a log axis: non-positive and non-finite ones become gaps (NaN)."""
    return [v if v is not None and math.isfinite(v) and v > 0 else math.nan for v in values]


def plot_series(series: dict, metric: str, log: bool, path=None, xlabel: str = "step"):
    """One line per key of ``series`` (a dict name -> values over time)."""
    fig, (ax,) = figure()
    for name, values in series.items():
        ax.plot(range(1, len(values) + 1), positive(values) if log else values, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    if series:
        ax.legend(fontsize="small")
    finish(fig, path)
    return fig
