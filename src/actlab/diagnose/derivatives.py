"""The derivative f'(z) of an activation module, without autograd.

Used by the diagnose hooks to count saturated units (|f'(z)| below a
threshold) and dead ones (f'(z) exactly 0 for every sample seen). actlab's own
modules carry their analytic derivative; PyTorch's activation modules are
mapped onto the catalog definition that has the same formula, so each
derivative is still written down only once (in catalog/definitions.py).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..catalog import spec as catalog_spec
from ..catalog.module import ActivationModule

# PyTorch class -> (catalog name, function giving the catalog parameters of an instance)
_TORCH_ACTIVATIONS: dict[type, tuple[str, Callable[[nn.Module], dict]]] = {
    nn.ReLU: ("relu", lambda m: {}),
    nn.ReLU6: ("relu6", lambda m: {}),
    nn.LeakyReLU: ("leaky_relu", lambda m: {"negative_slope": m.negative_slope}),
    nn.ELU: ("elu", lambda m: {"alpha": m.alpha}),
    nn.CELU: ("celu", lambda m: {"alpha": m.alpha}),
    nn.SELU: ("selu", lambda m: {}),
    nn.GELU: ("gelu", lambda m: {}),
    nn.SiLU: ("silu", lambda m: {}),
    nn.Mish: ("mish", lambda m: {}),
    nn.Sigmoid: ("sigmoid", lambda m: {}),
    nn.Tanh: ("tanh", lambda m: {}),
    nn.Softplus: ("softplus", lambda m: {"beta": m.beta, "threshold": m.threshold}),
    nn.Softsign: ("softsign", lambda m: {}),
    nn.Hardtanh: ("hardtanh", lambda m: {"min_val": m.min_val, "max_val": m.max_val}),
    nn.Hardsigmoid: ("hardsigmoid", lambda m: {}),
    nn.Hardswish: ("hardswish", lambda m: {}),
    nn.LogSigmoid: ("logsigmoid", lambda m: {}),
    nn.Tanhshrink: ("tanhshrink", lambda m: {}),
    nn.Softshrink: ("softshrink", lambda m: {"lambd": m.lambd}),
    nn.Hardshrink: ("hardshrink", lambda m: {"lambd": m.lambd}),
    nn.PReLU: ("prelu", lambda m: {"weight": m.weight}),
}


def _catalog_name(module: nn.Module) -> Optional[str]:
    if isinstance(module, ActivationModule):
        return module.spec.name
    if isinstance(module, nn.GELU) and module.approximate == "tanh":
        return "gelu_tanh"
    entry = _TORCH_ACTIVATIONS.get(type(module))
    return entry[0] if entry else None


def is_activation(module: nn.Module) -> bool:
    """True for actlab activation modules and the PyTorch ones mapped above (not softmax)."""
    name = _catalog_name(module)
    return name is not None and not catalog_spec(name).vector


def is_relu(module: nn.Module) -> bool:
    """Plain ReLU: f'(z) != 0 exactly where the output is > 0, which the hooks test cheaply."""
    return _catalog_name(module) == "relu"


def derivative_fn(module: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn(z, a)`` -> f'(z) for this activation module (``a`` is its output).

    ReLU's derivative is returned as a boolean mask (a > 0), its cheapest form.
    """
    name = _catalog_name(module)
    if name is None:
        raise TypeError(f"{type(module).__name__} is not an activation actlab knows; "
                        "use an actlab module (actlab.get(name)) or a PyTorch activation module")
    if name == "relu":
        return lambda z, a: a > 0
    if name == "sigmoid":
        return lambda z, a: a * (1 - a)
    if name == "tanh":
        return lambda z, a: 1 - a * a
    if isinstance(module, ActivationModule):
        return lambda z, a: module.derivative(z)
    definition = catalog_spec(name)
    params_of = _TORCH_ACTIVATIONS[nn.GELU if name == "gelu_tanh" else type(module)][1]

    def fn(z, a):
        params = params_of(module)
        return definition.derivative(z, **definition.formula_params(dict(definition.defaults(), **params)))

    return fn
