"""``actlab.advise(model, batch)``: measure a model at initialisation and over a few steps, compare
with the mean-field theory, and say what to change."""
from __future__ import annotations

import copy
from typing import Callable, Optional

import torch
from torch import nn

from ..diagnose import diagnose
from .identify import LayerInit, chains, has_normalisation, layer_inits
from .measure import Measurements, measure
from .report import Advice
from .rules import (ChainTheory, Recommendation, call_theory, chain_theory, clipping_rule, dead_rule, init_rule,
                    saturation_rule)


def _split_batch(batch, labels) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    if isinstance(batch, (tuple, list)):
        if len(batch) != 2 or labels is not None:
            raise ValueError("batch must be an input tensor x, or a pair (x, y) when labels are not given "
                             f"separately; got a {type(batch).__name__} of length {len(batch)}")
        batch, labels = batch
    if not torch.is_tensor(batch):
        raise TypeError(f"batch must be a tensor (or a pair of tensors), got {type(batch).__name__}")
    if labels is not None and (not torch.is_tensor(labels) or len(labels) != len(batch)):
        raise ValueError(f"labels must be a tensor with one entry per sample ({len(batch)}); "
                         f"got {type(labels).__name__} of length {len(labels) if hasattr(labels, '__len__') else '?'}")
    return batch, labels


def _layer_order(model: nn.Module, x: torch.Tensor) -> list[dict]:
    # One forward pass without gradients: the order and layer/activation pairing of the rows.
    # On a copy, so that not even BatchNorm's running statistics of the caller's model move.
    model = copy.deepcopy(model)
    with diagnose(model, sample_rows=1) as d, torch.no_grad():
        model(x[:2])
    return d.table()


def advise(model: nn.Module, batch, labels: Optional[torch.Tensor] = None, *, steps: int = 20,
           optimizer: str = "adam", lr: float = 1e-3, probes: int = 4, seed: int = 0,
           loss_fn: Optional[Callable] = None, tensorboard=None, name: Optional[str] = None) -> Advice:
    r"""Diagnose ``model`` on a batch of real data and say what to change, with the numbers behind it.

    At initialisation, with dropout off and standard-normal output gradients,
    every weighted layer's sigma_w^2 = fan_in Var(W) and sigma_b^2 = Var(b)
    are read off and, for runs of equal layers, the per-layer factor of the
    squared gradient norm is measured and set against the mean-field
    prediction

    .. math:: \chi_1 = \sigma_w^2 \, \mathbb{E}_{z\sim N(0,1)}[\phi'(\sqrt{q^*} z)^2].

    Then a copy of the model trains ``steps`` steps on the batch (the model
    passed in is not changed), watching dead and saturated units and the
    total gradient norm. Recommendations (init gain, activation,
    normalisation, clipping) are made only where a measurement crosses a
    stated threshold, and where the theory covers the case it must agree.

    Args:
        model: any ``nn.Module``; its activations are found by class (actlab
            modules and PyTorch's own).
        batch: the input tensor, or a pair ``(x, y)``.
        labels: the targets, when ``batch`` is only the input. Without
            labels only the initialisation is measured.
        steps, optimizer, lr: the training check ("adam" or "sgd").
        probes: backward passes with fresh Gaussian output gradients at init.
        loss_fn: ``loss_fn(output, y)``; default cross-entropy for integer
            labels, mean squared error for float targets.
        tensorboard: a log folder or a ``SummaryWriter``; one per-layer health
            summary per step is written there (needs ``actlab[tensorboard]``).

    Returns:
        An :class:`Advice`: ``print(advice)``, ``advice.to_html(path)``,
        ``advice.apply(model)`` (the recommended init), ``advice.to_dict()``.

    Examples:
        >>> model = actlab.models.build_model("mlp", "tanh", depth=30, width=256)
        >>> advice = actlab.advise(model, (x, y))
        >>> print(advice); advice.apply(model)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"advise expects a torch.nn.Module, got {type(model).__name__}")
    if steps < 0 or probes < 1:
        raise ValueError(f"steps must be >= 0 and probes >= 1; got steps={steps}, probes={probes}")
    x, y = _split_batch(batch, labels)
    writer, close = None, False
    if tensorboard is not None:
        from .tensorboard import open_writer

        writer, close = open_writer(tensorboard)
    try:
        on_step = None
        if writer is not None:
            from .tensorboard import write_health

            def on_step(step, table):
                write_health(writer, table, step + 1)
        found = layer_inits(model, _layer_order(model, x))
        measured = measure(model, x, y, steps=steps, optimizer=optimizer, lr=lr, probes=probes, seed=seed,
                           loss_fn=loss_fn, on_step=on_step)
        if writer is not None:
            write_health(writer, measured.init, 0)
    finally:
        if close:
            writer.close()
    theories, recs, notes = assess(model, found, measured)
    if y is None:
        notes.insert(0, "no labels given: only the initialisation was measured (no training steps)")
    return Advice(name or type(model).__name__, tuple(x.shape), found, theories, measured, recs,
                  has_normalisation(model), notes)


def assess(model: nn.Module, found: list[LayerInit], measured: Measurements
           ) -> tuple[list[ChainTheory], list[Recommendation], list[str]]:
    """Theory for every layer and chain, the recommendations the rules back, and notes on what was not assessed."""
    from .. import theory

    for layer in found:
        if layer.activation is not None:
            layer.chi1, _ = call_theory(theory.chi1, layer.activation, layer.sigma_w2, layer.sigma_b2, **layer.params)
    theories = [chain_theory(c, found, measured.init) for c in chains(found)]
    notes = []
    if not theories:
        notes.append("no run of 3 or more equal layers feeding one activation: the per-layer gradient factor "
                     "chi_1 cannot be measured, so no init gain is recommended")
    normalised = has_normalisation(model)
    if normalised:
        notes.append("the model normalises: layers whose activation follows a normalisation layer are outside "
                     "the init theory (the normalisation, not sigma_w^2, sets the variance the activation sees)")
    unknown = [layer.name for layer in found[:-1] if layer.activation is None and not normalised]
    if unknown:
        notes.append(f"no known activation after {', '.join(unknown)}: no theory for these layers")
    recs = [r for r in (init_rule(c) for c in theories) if r is not None]
    explained = {n for r in recs for n in r.layers}
    last = measured.steps[-1] if measured.steps else None
    relu_layers = [layer for layer in found if layer.activation == "relu"]
    recs += [r for r in (dead_rule(measured.init, last, relu_layers),
                         saturation_rule(measured.init, last, found, normalised, explained),
                         clipping_rule(measured.losses, measured.grad_norms)) if r is not None]
    return theories, recs, notes
