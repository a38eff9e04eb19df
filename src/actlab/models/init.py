"""Weight initialisation chosen per activation.

``auto`` takes the scheme from the activation's definition in the catalog
(its ``init`` field; SELU's is "lecun", since its self-normalising property
is proved for LeCun-normal weights). A definition without one gets it from
its family: the rectifier, exponential and gated families (zero or small for
x < 0, identity for large x) keep the signal's variance with He, and
everything else (sigmoidal, shrinkage, periodic, linear, threshold) uses
Glorot, which assumes a unit slope around 0 in both directions. Biases start
at zero. ``pytorch`` keeps each layer's own initialisation (PyTorch's
defaults or a user factory's) untouched.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..catalog import LEARNABLE, label, parse
from ..catalog import spec as catalog_spec
from ..catalog.properties import compute, evaluate, resolve
from ..catalog.torch_map import catalog_entry, is_elementwise

SCHEMES = ("auto", "he", "glorot", "lecun", "pytorch", "critical")
_HE_FAMILIES = ("rectifier", "exponential", "gated")


def scheme_for(activation: str) -> str:
    """The scheme ``auto`` picks for ``activation`` (a name or spec string): the definition's ``init``,
    else He for the rectifier, exponential and gated families and Glorot for the others."""
    name, _ = parse(activation)
    definition = catalog_spec(name)
    return definition.init or ("he" if definition.family in _HE_FAMILIES else "glorot")


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _positively_homogeneous(activation: str) -> bool:
    """f(2x) == 2 f(x) for |2x| <= 3, where a unit-variance pre-activation lies: ReLU, leaky ReLU, PReLU."""
    name, params = parse(activation)
    definition, _, kwargs = resolve(name, params)
    if not is_elementwise(definition):
        return False
    x = np.linspace(-1.5, 1.5, 301)
    f, _ = evaluate(definition, kwargs, x)
    f2, _ = evaluate(definition, kwargs, 2 * x)
    return bool(np.allclose(f2, 2 * f, rtol=1e-12, atol=1e-300))


def he_gain(activation: str) -> float:
    """The gain of ``he``: sqrt(1 / E[f(z)^2]), z ~ N(0, 1), for positively homogeneous f; sqrt(2) otherwise.

    For f(x) = x (x > 0), a x (x <= 0) this is sqrt(2 / (1 + a^2)), He et
    al. (2015) eq. 15, with the slope a read off the definition (leaky ReLU's
    negative_slope, PReLU's initial weight, RReLU's mean slope) rather than
    looked up by parameter name. Smooth rectifiers (ELU, GELU, SiLU...) keep
    He's sqrt(2).

    Examples:
        >>> round(he_gain("leaky_relu:negative_slope=0.5") ** 2, 12)  # 2 / 1.25
        1.6
    """
    if not _positively_homogeneous(activation):
        return math.sqrt(2.0)
    p = compute(activation)
    return 1.0 / math.sqrt(p.mean * p.mean + p.var)


def spec_string(module: nn.Module) -> str:
    """The catalog spec string of an activation module, e.g. nn.LeakyReLU(0.2) -> 'leaky_relu:negative_slope=0.2'.

    Learned values (PReLU's slope) are left at the definition's defaults.
    """
    entry = catalog_entry(module)
    if entry is None:
        raise ValueError(f"{type(module).__name__} is not an activation the catalog has; pass an activation name "
                         "(see 'actlab list') or a module such as nn.ReLU() or actlab.get('elu')")
    name, params = entry
    given = {k: v for k, v in params.items() if not torch.is_tensor(v) and v != LEARNABLE}
    return label(name + "".join(f":{k}={v}" for k, v in given.items()))


def critical_gain(activation: str) -> float:
    """The gain of ``critical``: actlab.theory.critical_gain at sigma_b2 = 0 (chi_1 = 1, the edge of chaos)."""
    # imported here: the theory package sits above models, and only this scheme needs it
    from ..theory import NoCriticalPoint
    from ..theory import critical_gain as theory_gain

    try:
        return theory_gain(activation)
    except NoCriticalPoint as e:
        raise ValueError(f"init 'critical' is not available for {activation}: {e}; "
                         "use init 'auto' (or he, glorot, lecun) instead") from None


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The layers an initialisation scheme applies to: linear and convolution layers."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]


def init_weights(model: nn.Module, activation_name: str | nn.Module, scheme: str = "auto",
                 generator: Optional[torch.Generator] = None) -> str:
    """Initialise every linear and convolution layer of ``model`` in place; return the scheme used.

    ``he``: normal, std = gain / sqrt(fan_in) with gain :func:`he_gain`
    (sqrt(2 / (1 + a^2)) for a leaky slope a, sqrt(2) for smooth rectifiers).
    ``glorot``: uniform in +-sqrt(6 / (fan_in + fan_out)) (Keras' default).
    ``lecun``: normal, std = 1 / sqrt(fan_in). ``critical``: normal, std =
    :func:`critical_gain` / sqrt(fan_in), the edge of chaos of the mean-field
    theory (chi_1 = 1 at zero bias). Biases are set to zero.
    ``pytorch`` leaves the model as it is. ``activation_name`` may also be an
    activation module, PyTorch's or actlab's (read through
    :mod:`actlab.catalog.torch_map`; learned values count at their defaults).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if isinstance(activation_name, nn.Module):
        activation_name = spec_string(activation_name)
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
                gain = (he_gain(activation_name) if chosen == "he" else
                        critical_gain(activation_name) if chosen == "critical" else 1.0)
                layer.weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)
            if layer.bias is not None:
                layer.bias.zero_()
    return chosen
