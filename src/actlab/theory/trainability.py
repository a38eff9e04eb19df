r"""Trainability on real data against the theory: a depth x sigma_w^2 grid of plain MLPs.

Schoenholz et al. (2017) showed that a random network trains only while its
depth stays below a few correlation depth scales xi_c (about 6 xi_c on MNIST
and CIFAR-10), and that xi_c diverges at the edge of chaos. This module trains
the grid of plain MLPs (no normalisation, no dropout, Gaussian weights of
variance sigma_w^2 / fan_in and biases of variance sigma_b^2) briefly on real
MNIST, records their accuracy, and draws the predicted bound
``TRAINABLE_DEPTH_MULTIPLE`` x xi_c(sigma_w^2) over it.

    actlab theory trainability --activation tanh --out runs/t
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .critical import TRAINABLE_DEPTH_MULTIPLE, trainable_depth
from .meanfield import depth_scales

DEPTHS = (2, 4, 8, 16, 32)
SIGMA_W2 = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class Cell:
    """One trained network of the grid: its accuracy after training and the predicted xi_c."""

    depth: int
    sigma_w2: float
    sigma_b2: float
    train_acc: float
    test_acc: float
    train_loss: float
    xi_c: float
    seconds: float

    @property
    def predicted_trainable(self) -> bool:
        return self.depth <= trainable_depth(self.xi_c)


def plain_mlp(activation: str, depth: int, width: int, sigma_w2: float, sigma_b2: float,
              in_features: int = 784, num_classes: int = 10, seed: int = 0) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units, W ~ N(0, sigma_w2 / fan_in), b ~ N(0, sigma_b2),
    also for the readout layer, as in the theory (no normalisation, no dropout)."""
    from ..catalog import get

    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = in_features
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), get(activation)]
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, math.sqrt(sigma_w2 / layer.in_features), generator=generator)
                layer.bias.normal_(0.0, math.sqrt(sigma_b2), generator=generator)
    return nn.Sequential(*layers)


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> tuple[float, float]:
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch]).sum())
    n = max(len(x), 1)
    return correct / n, loss / n


def train_cell(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
               seed: int = 0) -> None:
    """SGD with momentum 0.9: no per-parameter rescaling, which (as in Adam) would partly hide a
    vanishing or exploding gradient, the effect the grid is there to show."""
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                return
            loss.backward()
            opt.step()


def xi_c_of(activation: str, sigma_w2: float, sigma_b2: float) -> float:
    """The correlation depth scale of ``activation`` (a name or spec string); nan where the theory
    has no finite fixed point."""
    try:
        return float(depth_scales(activation, sigma_w2, sigma_b2)[1])
    except ValueError:
        return math.nan


def trainability_grid(activation: str, depths: Sequence[int], sigma_w2s: Sequence[float], splits, *,
                      sigma_b2: float = 0.05, width: int = 128, epochs: int = 1, batch_size: int = 64,
                      lr: float = 0.01, seed: int = 0, on_cell: Optional[Callable[[Cell], None]] = None
                      ) -> list[Cell]:
    """Train one plain MLP per (depth, sigma_w^2) on ``splits`` (an ``actlab.data.Splits``); return the cells.

    Accuracy is measured on the training images (trainability: did it fit at
    all?) and on the test set. Chance is 10%.
    """
    cells = []
    for depth in depths:
        for sw2 in sigma_w2s:
            start = time.perf_counter()
            model = plain_mlp(activation, int(depth), width, float(sw2), sigma_b2, seed=seed)
            train_cell(model, splits.train_x, splits.train_y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
            train_acc, train_loss = _accuracy(model, splits.train_x, splits.train_y)
            test_acc, _ = _accuracy(model, splits.test_x, splits.test_y)
            cell = Cell(int(depth), float(sw2), float(sigma_b2), train_acc, test_acc, train_loss,
                        xi_c_of(activation, float(sw2), sigma_b2), time.perf_counter() - start)
            cells.append(cell)
            if on_cell is not None:
                on_cell(cell)
    return cells


def plot_trainability(cells: Sequence[Cell], activation: str, path, *, title: Optional[str] = None):
    """Heat map of training accuracy over (sigma_w^2, depth) with the predicted 6 xi_c curve; saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    depths = sorted({c.depth for c in cells})
    ws = sorted({c.sigma_w2 for c in cells})
    acc = np.full((len(depths), len(ws)), np.nan)
    for c in cells:
        acc[depths.index(c.depth), ws.index(c.sigma_w2)] = c.train_acc
    fig, ax = plt.subplots(figsize=(7.0, 4.6), dpi=110)
    x_edges, y_edges = _edges(ws, log=True), _edges(depths, log=True)
    mesh = ax.pcolormesh(x_edges, y_edges, acc, cmap="viridis", vmin=0.0, vmax=1.0, shading="flat")
    fig.colorbar(mesh, ax=ax, label="training accuracy after training")
    sigma_b2 = cells[0].sigma_b2
    fine = np.geomspace(x_edges[0], x_edges[-1], 300)
    bound = np.array([trainable_depth(xi_c_of(activation, float(w), sigma_b2)) for w in fine])
    # an infinite bound (the edge of chaos) is drawn at the top of the axes
    ax.plot(fine, np.clip(np.nan_to_num(bound, nan=np.nan, posinf=1e9), 1e-3, 1e9), color="white", lw=2.0,
            label=f"predicted trainable depth {TRAINABLE_DEPTH_MULTIPLE:g} $\\xi_c$")
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    ax.set_ylim(y_edges[0], y_edges[-1])
    ax.set_yticks(depths, [str(d) for d in depths])
    ax.set_xticks(ws, [f"{w:g}" for w in ws])
    ax.minorticks_off()
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_xlabel("$\\sigma_w^2$ (weight variance x fan-in)")
    ax.set_ylabel("depth (hidden layers)")
    ax.set_title(title or f"{activation}, $\\sigma_b^2$ = {sigma_b2:g}: trainability on MNIST")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _edges(values: Sequence[float], log: bool = False):
    import numpy as np

    v = np.log2(np.asarray(values, dtype=float)) if log else np.asarray(values, dtype=float)
    if len(v) == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[2 * v[0] - mid[0]], mid, [2 * v[-1] - mid[-1]]])
    return 2.0 ** e if log else e


def write_results(cells: Sequence[Cell], out, activation: str, settings: dict) -> list[Path]:
    """cells.csv, trainability.json (cells, settings, the stated multiple) and trainability.png in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [dict(asdict(c), predicted_trainable_depth=trainable_depth(c.xi_c),
                 predicted_trainable=c.predicted_trainable) for c in cells]
    with open(out / "cells.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    clean = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows]
    (out / "trainability.json").write_text(json.dumps(
        {"activation": activation, "depth_multiple": TRAINABLE_DEPTH_MULTIPLE, "settings": settings,
         "cells": clean}, indent=2))
    return [out / "cells.csv", out / "trainability.json", plot_trainability(cells, activation, out / "trainability.png")]


def _floats(value, default: Sequence[float], what: str, example: str) -> list[float]:
    if value is None:
        return list(default)
    if isinstance(value, (int, float)):
        return [float(value)]
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        out = [float(v) for v in items if str(v).strip()]
    except ValueError:
        raise ValueError(f"{what} must be a comma-separated list of numbers, e.g. {example}; got {value!r}") from None
    if not out:
        raise ValueError(f"{what} is empty; give a comma-separated list of numbers")
    return out


def cli_trainability(args) -> int:
    """``actlab theory trainability``: train the grid on real MNIST and write PNG, CSV and JSON to --out.

    Reads ``args.activation``, ``args.out``, ``args.depths`` ("2,4,8,16,32"),
    ``args.sigma_w2`` (a list or "0.5,1,..."), ``args.sigma_b2``,
    ``args.data_dir``, ``args.epochs``, ``args.train_limit`` (and, when
    present, ``args.width``, ``args.lr``, ``args.batch_size``, ``args.dataset``).
    """
    from ..catalog import parse
    from ..data import load_dataset, split

    activation = getattr(args, "activation", None) or "tanh"
    parse(activation)  # a clear error for an unknown name before any training
    given = _floats(getattr(args, "depths", None), DEPTHS, "--depths", "2,4,8")
    if any(d < 1 or d != int(d) for d in given):
        raise ValueError(f"--depths must be whole numbers >= 1, e.g. 2,4,8; got {getattr(args, 'depths', None)!r}")
    depths = [int(d) for d in given]
    sigma_w2s = _floats(getattr(args, "sigma_w2", None), SIGMA_W2, "--sigma-w2", "0.5,1,2")
    if any(w <= 0 for w in sigma_w2s):
        raise ValueError(f"--sigma-w2 values must be > 0; got {sigma_w2s}")
    sb2 = getattr(args, "sigma_b2", None)
    sigma_b2 = 0.05 if sb2 is None else float(sb2)
    if sigma_b2 < 0:
        raise ValueError(f"--sigma-b2 must be >= 0; got {sigma_b2}")
    epochs = getattr(args, "epochs", None)
    epochs = 1 if epochs is None else epochs
    limit = getattr(args, "train_limit", None)
    if limit is None:
        limit = 2000
    elif str(limit) == "all":
        limit = None
    elif not str(limit).isdigit() or int(limit) < 1:
        raise ValueError(f"--train-limit must be a whole number of images >= 1 or 'all'; got {limit!r}")
    else:
        limit = int(limit)
    if epochs < 1:
        raise ValueError(f"--epochs must be at least 1; got {epochs}")
    width = getattr(args, "width", None) or 128
    lr = getattr(args, "lr", None) or 0.01
    batch_size = getattr(args, "batch_size", None) or 64
    dataset = getattr(args, "dataset", None) or ("mnist" if getattr(args, "data_dir", None) else "mnist-small")
    out = Path(getattr(args, "out", None) or "runs/trainability")
    try:  # before hours of training, not after
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create --out folder {out}: {e.strerror or e}; choose a writable folder") from None
    data = load_dataset(dataset, data_dir=getattr(args, "data_dir", None))
    splits = split(data, val_fraction=0.1, seed=0, train_limit=limit)
    print(f"actlab theory trainability: {activation}, {len(depths)} depths x {len(sigma_w2s)} sigma_w^2 "
          f"(sigma_b^2 = {sigma_b2:g}), width {width}, {epochs} epoch(s) of SGD on {len(splits.train_x)} "
          f"{dataset} images")

    def report(cell: Cell) -> None:
        print(f"  depth {cell.depth:3d}  sigma_w^2 {cell.sigma_w2:5.2f}  train acc {cell.train_acc:.3f}  "
              f"test acc {cell.test_acc:.3f}  {TRAINABLE_DEPTH_MULTIPLE:g} xi_c = "
              f"{trainable_depth(cell.xi_c):.3g}  ({cell.seconds:.1f} s)", flush=True)

    cells = trainability_grid(activation, depths, sigma_w2s, splits, sigma_b2=sigma_b2, width=width,
                              epochs=epochs, batch_size=batch_size, lr=lr, on_cell=report)
    settings = {"dataset": dataset, "train_images": len(splits.train_x), "width": width, "epochs": epochs,
                "batch_size": batch_size, "lr": lr, "optimizer": "sgd, momentum 0.9", "sigma_b2": sigma_b2}
    try:
        paths = write_results(cells, out, activation, settings)
    except OSError as e:
        raise ValueError(f"cannot write the results to {out}: {e.strerror or e}; choose a writable --out") from None
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
