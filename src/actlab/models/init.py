"""Weight initialisation chosen per activation.

``auto`` derives the scheme from the activation's definition in the catalog:
SELU's self-normalising property is proved for LeCun-normal weights, the
rectifier, exponential and gated families (zero or small for x < 0, identity
for large x) keep the signal's variance with He, and everything else
(sigmoidal, shrinkage, periodic, linear, threshold) uses Glorot, which assumes
a unit slope around 0 in both directions. Biases start at zero.
``pytorch`` keeps each layer's own initialisation (PyTorch's defaults or a
user factory's) untouched.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from ..catalog import parse
from ..catalog import spec as catalog_spec

SCHEMES = ("auto", "he", "glorot", "lecun", "pytorch")
_HE_FAMILIES = ("rectifier", "exponential", "gated")


def scheme_for(activation: str) -> str:
    """The scheme ``auto`` picks for ``activation`` (a name or spec string)."""
    name, _ = parse(activation)
    if name == "selu":
        return "lecun"
    return "he" if catalog_spec(name).family in _HE_FAMILIES else "glorot"


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _he_gain(activation: str) -> float:
    # A leaky slope a lets a fraction a^2 of the negative half's variance through.
    _, params = parse(activation)
    slope = params.get("negative_slope", 0.0)
    return math.sqrt(2.0 / (1.0 + slope * slope))


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The layers an initialisation scheme applies to: linear and convolution layers."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]


def init_weights(model: nn.Module, activation_name: str, scheme: str = "auto",
                 generator: Optional[torch.Generator] = None) -> str:
    """Initialise every linear and convolution layer of ``model`` in place; return the scheme used.

    ``he``: normal, std = gain / sqrt(fan_in) with gain sqrt(2 / (1 + a^2)) for
    a leaky slope a (0 otherwise). ``glorot``: uniform in +-sqrt(6 / (fan_in +
    fan_out)) (Keras' default). ``lecun``: normal, std = 1 / sqrt(fan_in).
    Biases are set to zero. ``pytorch`` leaves the model as it is.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    chosen = scheme_for(activation_name) if scheme == "auto" else scheme
    if chosen == "pytorch":
        return chosen
    with torch.no_grad():
        for layer in weighted_layers(model):
            fan_in, fan_out = _fans(layer.weight)
            if chosen == "glorot":
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                layer.weight.uniform_(-limit, limit, generator=generator)
            else:
                gain = _he_gain(activation_name) if chosen == "he" else 1.0
                layer.weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)
            if layer.bias is not None:
                layer.bias.zero_()
    return chosen
