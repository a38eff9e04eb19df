"""Dead units: the fraction of hidden units whose derivative is 0 for every image of
a data set, per layer, at initialisation and after each epoch of plain SGD.

A high learning rate can push a ReLU unit's bias and weights so that its input
is negative for every image; its gradient is then 0 for good and it never
recovers. Activations with a non-zero slope for negative inputs cannot die.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..core import diagnose
from .nets import data_generator, mlp, positive


def dead_fractions(model, x: torch.Tensor, batch_size: int = 1000) -> list[float]:
    """Per hidden layer: fraction of units that never fired on any row of ``x``
    (NaN for every layer once the weights are no longer finite: nothing can be said)."""
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return [math.nan] * (len([m for m in model.modules() if isinstance(m, torch.nn.Linear)]) - 1)
    was_training = model.training
    model.eval()
    with diagnose(model, sample_rows=None) as d, torch.no_grad():
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size])
    model.train(was_training)
    return [r["frac_dead"] for r in d.table() if r["frac_dead"] is not None]


def dead_units(x: torch.Tensor, y: torch.Tensor, sizes: list[int], activations: list[str],
               lr: float = 1.0, epochs: int = 3, batch_size: int = 64, init: str = "he",
               seed: int = 0) -> dict:
    """For each activation: dead fraction per hidden layer at init and after every epoch."""
    lr = positive("--lr", lr, float)
    batch_size = positive("--batch-size", batch_size)
    if epochs < 0:
        raise ValueError(f"--epochs must be 0 or more (got {epochs})")
    if sizes[0] != x.shape[1] or sizes[-1] != 10 or len(sizes) < 3:
        raise ValueError(f"--layers must start with {x.shape[1]}, end with 10 and have a hidden layer; "
                         f"got {','.join(map(str, sizes))}")
    results = {}
    for activation in activations:
        model = mlp(sizes, activation, init, seed)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        gen = data_generator(seed)
        by_epoch, losses = [dead_fractions(model, x)], []
        for _ in range(epochs):
            order, total = torch.randperm(len(x), generator=gen), 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / len(x))
            by_epoch.append(dead_fractions(model, x))
        results[activation] = {"at_init": by_epoch[0], "by_epoch": by_epoch[1:], "train_loss_by_epoch": losses,
                               "diverged": any(not math.isfinite(v) for v in losses)}
    return {"layers": sizes, "lr": lr, "epochs": epochs, "batch_size": batch_size, "init": init,
            "samples": len(x), "seed": seed, "activations": results}
