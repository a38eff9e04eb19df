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


def plot_chain(result: dict, path=None):
    layers = [l["layer"] for l in result["layers"]]
    fig, (ax,) = figure()
    ax.plot(layers, positive([abs(l["dC_db"]) for l in result["layers"]]), "o-", label="|dC/db_j|")
    ax.plot(layers, positive([abs(l["factor"]) for l in result["layers"]]), "s--", label="|w_j f'(z_j)|")
    ax.set_yscale("log")
    ax.set_xticks(layers)
    ax.set_xlabel("layer j (1 = first)")
    ax.set_title(f"one-neuron chain, {result['activation']}")
    ax.legend()
    finish(fig, path)
    return fig


def plot_speed(result: dict, path=None):
    epochs = list(range(len(result["speed_by_epoch"]) + 1))
    per_layer = list(zip(result["speed_at_init"], *result["speed_by_epoch"]))
    fig, (ax,) = figure()
    for i, values in enumerate(per_layer):
        ax.plot(epochs, positive(list(values)), label=f"hidden layer {i + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch (0 = at initialisation)")
    ax.set_ylabel("speed of learning ||mean dC/db||")
    ax.set_title(f"{','.join(map(str, result['layers']))}, {result['activation']}, {result['cost']} cost")
    ax.legend()
    finish(fig, path)
    return fig


def plot_propagate(result: dict, path=None):
    depth = list(range(1, result["depth"] + 1))
    fig, axes = figure(ncols=3, width=4.5)
    for ax, key, log in zip(axes, ("mean", "var", "grad_norm"), (False, True, True)):
        ax.plot(depth, positive(result[key]) if log else result[key], "o-", markersize=3)
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel({"mean": "activation mean", "var": "activation variance",
                       "grad_norm": "weight gradient norm"}[key])
    axes[1].set_title(f"{result['activation']}, init {result['init']}, width {result['width']}")
    finish(fig, path)
    return fig


def plot_dead(result: dict, path=None):
    fig, (ax,) = figure()
    for name, run in result["activations"].items():
        final = run["by_epoch"][-1] if run["by_epoch"] else run["at_init"]
        layers = list(range(1, len(final) + 1))
        line, = ax.plot(layers, final, "o-", label=f"{name}, after epoch {len(run['by_epoch'])}")
        ax.plot(layers, run["at_init"], "x:", color=line.get_color(), label=f"{name}, at init")
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("fraction of units that never fired")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"dead units, SGD lr {result['lr']}")
    ax.legend(fontsize="small")
    finish(fig, path)
    return fig


def plot_clip(result: dict, path=None):
    fig, axes = figure(ncols=2)
    for mode, run in result["runs"].items():
        steps = range(1, len(run["loss"]) + 1)
        axes[0].plot(steps, positive(run["loss"]), label=mode)
        axes[1].plot(steps, positive(run["grad_norm"]), label=mode)
    for ax, label in zip(axes, ("training loss", "gradient norm before clipping")):
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.legend(title="clipping")
    axes[0].set_title(f"gain {result['gain']}, lr {result['lr']} (gaps: loss not finite)")
    finish(fig, path)
    return fig
