"""What a model is made of: its weighted layers, the activation after each, and their initialisation.

The mean-field theory describes a layer by three numbers: the activation phi
it feeds, the weight variance sigma_w^2 = fan_in * Var(W) and the bias
variance sigma_b^2 = Var(b). This module reads them off any ``nn.Module``,
pairing layers and activations the way ``actlab.diagnose`` does (a layer and
the first activation that runs after it in the forward pass).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from ..catalog.torch_map import catalog_entry

# Layers between a weighted layer and its activation that rescale the signal, so that
# sigma_w^2 no longer sets the variance the activation sees.
NORMALISATIONS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
                  nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)
WEIGHTED = (nn.Linear, nn.modules.conv._ConvNd)


@dataclass
class LayerInit:
    """One weighted layer (Linear or convolution) and the activation that follows it.

    ``activation`` is the catalog name (None when the layer feeds no activation
    actlab knows, e.g. the output layer or a layer followed by normalisation);
    ``params`` the activation's parameters as the theory takes them.
    """

    name: str
    kind: str
    fan_in: int
    sigma_w2: float
    sigma_b2: float
    shape: tuple
    activation: Optional[str] = None
    params: dict = field(default_factory=dict)
    chi1: Optional[float] = None  # mean-field prediction at this layer's sigma_w^2, sigma_b^2 (advise fills it)

    @property
    def gain(self) -> float:
        """The weight gain g of std(W) = g / sqrt(fan_in): sqrt(sigma_w^2)."""
        return math.sqrt(self.sigma_w2)


def activation_of(module: nn.Module) -> Optional[tuple[str, dict]]:
    """(catalog name, parameters) of an activation module, or None when actlab does not know it.

    Learned parameters (PReLU's slope, a learnable Swish beta) enter with their
    current mean value: the theory treats them as constants at initialisation.
    """
    entry = catalog_entry(module)
    if entry is None:
        return None
    name, raw = entry
    params = {}
    for key, value in raw.items():
        if torch.is_tensor(value):
            value = float(value.detach().float().mean())
        if key != "num_parameters" and isinstance(value, (int, float)) and not isinstance(value, bool):
            params[key] = value
    return name, params


def weight_stats(layer: nn.Module) -> tuple[int, float, float]:
    """(fan_in, sigma_w^2 = fan_in * Var(W), sigma_b^2 = Var(b)) of a Linear or convolution layer.

    Var is the empirical second moment about zero, the quantity the theory's
    zero-mean weights have; a layer without bias has sigma_b^2 = 0.
    """
    w = layer.weight.detach().double()
    fan_in = w[0].numel()
    sigma_w2 = fan_in * float(w.pow(2).mean())
    bias = getattr(layer, "bias", None)
    sigma_b2 = float(bias.detach().double().pow(2).mean()) if isinstance(bias, torch.Tensor) else 0.0
    return fan_in, sigma_w2, sigma_b2


def layer_inits(model: nn.Module, table: list[dict]) -> list[LayerInit]:
    """Every weighted layer of ``model`` in forward order, paired with its activation.

    ``table`` is a ``Diagnoser.table()`` of one forward pass: its rows give the
    order and the pairing. A weighted layer whose activation follows a
    normalisation layer gets ``activation=None``: the normalisation, not
    sigma_w^2, sets what the activation sees.
    """
    modules = dict(model.named_modules())
    modules.setdefault("model", model)
    out = []
    for row in table:
        layer = modules.get(row["name"])
        if not isinstance(layer, WEIGHTED):
            continue
        fan_in, sigma_w2, sigma_b2 = weight_stats(layer)
        entry = LayerInit(row["name"], type(layer).__name__, fan_in, sigma_w2, sigma_b2, tuple(layer.weight.shape))
        site = row.get("activation")
        act = modules.get(site.split("#")[0]) if site else None
        found = activation_of(act) if act is not None else None
        if found is not None:
            entry.activation, entry.params = found
        out.append(entry)
    return out


def has_normalisation(model: nn.Module) -> bool:
    """True when the model contains any batch, layer, group or instance normalisation."""
    return any(isinstance(m, NORMALISATIONS) for m in model.modules())


def chains(layers: list[LayerInit]) -> list[list[LayerInit]]:
    """Runs of consecutive layers of one kind and weight shape feeding the same activation.

    Inside such a run every layer sees the previous one's activation output, so
    the theory's layer-to-layer recursion applies; runs of at least three layers
    are returned (two points give no slope worth reporting).
    """
    runs, current = [], []
    for layer in layers:
        same = (current and layer.activation is not None and layer.kind == current[-1].kind
                and layer.shape == current[-1].shape and layer.activation == current[-1].activation
                and layer.params == current[-1].params)
        if same:
            current.append(layer)
        else:
            if len(current) >= 3:
                runs.append(current)
            current = [layer] if layer.activation is not None else []
    if len(current) >= 3:
        runs.append(current)
    return runs
