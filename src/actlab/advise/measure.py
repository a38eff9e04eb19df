"""The measurements behind the advice: one look at initialisation, then a few training steps.

At initialisation the network is probed as the mean-field theory describes
it: dropout off, and the backward pass seeded with an independent standard
normal cotangent per output element. Because those cotangents are
independent across samples, the cross-sample terms of the batch gradient
cancel in expectation, so the squared weight-gradient norm of layer l is the
theory's sum over samples of |delta_l|^2 |x_{l-1}|^2, and its ratio between
consecutive layers estimates chi_1. Training steps then use the real loss.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

from ..diagnose import diagnose


@dataclass
class Measurements:
    """What :func:`measure` saw.

    ``init``: a ``Diagnoser.table()`` at initialisation (``probes`` backward
    passes with Gaussian cotangents, dropout off). ``steps``: one table per
    training step (statistics of that step alone). ``losses`` and
    ``grad_norms`` (the total gradient norm before the optimizer step) per
    step; ``final_loss`` after the last step (None without training).
    """

    init: list[dict]
    steps: list[list[dict]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    final_loss: Optional[float] = None
    optimizer: str = ""
    lr: float = 0.0


def default_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for integer class labels, mean squared error for float targets."""
    if not target.is_floating_point():
        return F.cross_entropy(output, target)
    return F.mse_loss(output, target)


def _dropout_off(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):  # includes AlphaDropout
            m.eval()


def probe_init(model: nn.Module, x: torch.Tensor, probes: int = 4, seed: int = 0) -> list[dict]:
    """Per-layer statistics of ``model`` at its current weights (left unchanged), as the theory sees it."""
    generator = torch.Generator().manual_seed(seed)
    model.train()
    _dropout_off(model)
    with diagnose(model, sample_rows=None) as d:
        for _ in range(probes):
            model.zero_grad(set_to_none=True)
            out = model(x)
            cotangent = torch.randn(out.shape, generator=generator, dtype=out.dtype).to(out.device)
            out.backward(cotangent)
    model.zero_grad(set_to_none=True)
    return d.table()


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; expected 'adam' or 'sgd'")


def measure(model: nn.Module, x: torch.Tensor, y: Optional[torch.Tensor], *, steps: int = 20,
            optimizer: str = "adam", lr: float = 1e-3, probes: int = 4, seed: int = 0,
            loss_fn: Optional[Callable] = None, on_step: Optional[Callable[[int, list[dict]], None]] = None
            ) -> Measurements:
    """Probe ``model`` at initialisation, then train a copy for ``steps`` steps on (x, y).

    The caller's model is never changed: the steps train a deep copy. Without
    labels (``y`` None) only the initialisation is measured. ``on_step(step,
    table)`` is called after every step (e.g. to write TensorBoard summaries).
    """
    work = copy.deepcopy(model)
    result = Measurements(init=probe_init(work, x, probes=probes, seed=seed), optimizer=optimizer, lr=lr)
    if y is None or steps <= 0:
        return result
    loss_fn = loss_fn or default_loss
    opt = _optimizer(optimizer, [p for p in work.parameters() if p.requires_grad], lr)
    torch.manual_seed(seed)  # dropout masks
    work.train()
    with diagnose(work, optimizer=opt) as d:
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(work(x), y)
            loss.backward()
            norms = [p.grad.detach().double().norm() for p in work.parameters() if p.grad is not None]
            result.grad_norms.append(float(torch.stack(norms).norm()) if norms else 0.0)
            result.losses.append(float(loss.detach()))
            if math.isfinite(result.losses[-1]):
                opt.step()
            table = d.table()
            result.steps.append(table)
            if on_step is not None:
                on_step(step, table)
            d.reset()
            if not math.isfinite(result.losses[-1]):
                break
    with torch.no_grad():
        result.final_loss = float(loss_fn(work(x), y))
    return result
