"""The derivative f'(z) of an activation module, without autograd.

Used by the diagnose hooks to count saturated units (|f'(z)| below a
threshold) and dead ones (f'(z) exactly 0 for every sample seen). Every
module, actlab's or PyTorch's, is read through :mod:`actlab.catalog.torch_map`
and differentiated by its catalog definition's ``derivative``, so each
derivative is written down only once (in the catalog).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..catalog import DEFINITIONS
from ..catalog.module import ActivationModule
from ..catalog.torch_map import catalog_entry, catalog_name, is_elementwise


def is_activation(module: nn.Module) -> bool:
    """True for an elementwise activation module that has a catalog entry (not softmax or a gated unit)."""
    name = catalog_name(module)
    return name is not None and is_elementwise(DEFINITIONS[name])


def is_relu(module: nn.Module) -> bool:
    """Plain ReLU: f'(z) != 0 exactly where the output is > 0, which the hooks test cheaply."""
    return catalog_name(module) == "relu"


def derivative_fn(module: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fn(z, a)`` -> f'(z) for this activation module (``a``, its output, is not needed).

    The catalog definition's derivative, with the module's parameters read at
    each call (a PReLU slope changes as it trains). PyTorch settings outside
    the catalog's ranges (``nn.ELU(alpha=-0.5)``) still get the definition's
    formula at those values, which is the derivative of what the module computes.
    """
    if isinstance(module, ActivationModule):
        return lambda z, a: module.derivative(z)
    if catalog_entry(module) is None:
        raise TypeError(f"{type(module).__name__} is not an activation actlab knows; "
                        "use an actlab module (actlab.get(name)) or a PyTorch activation module "
                        "that the catalog has (see actlab.catalog.torch_map.TORCH_CLASSES)")

    def fn(z, a):
        name, params = catalog_entry(module)
        definition = DEFINITIONS[name]
        return definition.derivative(z, **definition.formula_params(params))

    return fn
