"""One map from PyTorch's activation modules to catalog entries.

The map is derived, not listed: each PyTorch class is named once, in the
PyTorch column of ``frameworks.FRAMEWORKS`` (the parity table, which also
states its defaults and is checked against PyTorch by the parity tests), and
a definition's parameter names are PyTorch's attribute names, so the
parameters are read off the module:

    >>> catalog_entry(nn.ELU(alpha=0.2))
    ('elu', {'alpha': 0.2})
    >>> catalog_entry(nn.Softplus(beta=2.0))
    ('softplus', {'beta': 2.0, 'threshold': 20.0})

Where one class computes two entries, the table's ``args`` say which
attribute values select which: ``nn.GELU(approximate="tanh")`` is
``gelu_tanh``. A catalog parameter PyTorch's class does not have takes its
default (``nn.SiLU`` is ``silu`` with beta = 1). Only classes of
``torch.nn.modules.activation`` are mapped: ``nn.Identity`` is in the table
(it computes the identity) but is a placeholder in models, not an activation
to swap. actlab's own modules map to their definition.

``actlab.swap``, ``actlab.diagnose``, ``actlab.models.accelerate`` and the
weight initialisation all read activation modules through this map.
"""
from __future__ import annotations

import inspect
from typing import Optional

import torch
import torch.nn.modules.activation as torch_activations
from torch import nn

from .frameworks import FRAMEWORKS
from .module import ActivationModule
from .registry import DEFINITIONS, get, normalise
from .spec import LEARNABLE, Activation


# Any spelling of a catalog name or alias -> the canonical name (FRAMEWORKS is keyed by either).
_CANONICAL = {normalise(alias): a.name for a in DEFINITIONS.values() for alias in (a.name, *a.aliases)}


def _pytorch_column() -> dict[type[nn.Module], list[tuple[str, dict]]]:
    """torch.nn activation class -> [(canonical catalog name, the attribute values that select it)]."""
    out: dict[type[nn.Module], list[tuple[str, dict]]] = {}
    for key, counterparts in FRAMEWORKS.items():
        if normalise(key) not in _CANONICAL:  # an entry for an activation the catalog lacks: unused
            continue
        for c in counterparts:
            if c.framework != "PyTorch":
                continue
            cls = getattr(torch_activations, c.name.rsplit(".", 1)[-1], None)
            if inspect.isclass(cls) and cls.__module__ == torch_activations.__name__:
                out.setdefault(cls, []).append((_CANONICAL[normalise(key)], dict(c.args)))
    return out


def _default_entry(cls: type[nn.Module], entries: list[tuple[str, dict]]) -> str:
    """The entry a class computes when built with no arguments (nn.GELU(): approximate="none")."""
    if len(entries) == 1:
        return entries[0][0]
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    for name, args in entries:
        if all(defaults.get(k) == v for k, v in args.items()):
            return name
    raise ValueError(f"frameworks.FRAMEWORKS lists torch.nn.{cls.__name__} for {[n for n, _ in entries]}, but none "
                     f"of their args matches the class's defaults {defaults}; give one entry PyTorch's default args")


_PYTORCH = _pytorch_column()

# torch.nn class -> canonical catalog name (nn.GELU: the entry for its default, approximate="none").
TORCH_CLASSES: dict[type[nn.Module], str] = {cls: _default_entry(cls, e) for cls, e in _PYTORCH.items()}


def is_elementwise(definition: Activation) -> bool:
    """True when f acts on each element alone (not softmax's vector, not a gated unit's halves)."""
    return not (definition.vector or definition.gated)


def _torch_class(module: nn.Module, inherited: bool) -> Optional[type[nn.Module]]:
    if type(module) in TORCH_CLASSES:
        return type(module)
    if inherited:
        return next((c for c in type(module).__mro__ if c in TORCH_CLASSES), None)
    return None


def catalog_name(module: nn.Module, inherited: bool = False) -> Optional[str]:
    """The catalog name of an activation module; None when the catalog has no entry for it.

    Args:
        module: an actlab activation module or a ``torch.nn`` activation module.
        inherited: also map subclasses of PyTorch's classes (they may compute something
            else in ``forward``, so only code that does not evaluate them, like swap, asks).

    Returns:
        The canonical name, e.g. ``"gelu_tanh"`` for ``nn.GELU(approximate="tanh")``.
    """
    if isinstance(module, ActivationModule):
        return module.spec.name
    cls = _torch_class(module, inherited)
    if cls is None:
        return None
    entries = _PYTORCH[cls]
    if len(entries) == 1:
        return entries[0][0]
    # Attributes that select another entry rather than set a parameter; None: a setting the catalog lacks.
    return next((name for name, args in entries if all(getattr(module, k, None) == v for k, v in args.items())), None)


def catalog_entry(module: nn.Module) -> Optional[tuple[str, dict]]:
    """(catalog name, parameters) that compute what ``module`` computes; None when there is none.

    Parameters are returned as the module holds them: learned ones as their
    ``nn.Parameter`` (read again on every call, so a trained PReLU slope is
    current), fixed ones as numbers. They are not validated: PyTorch accepts
    settings the catalog refuses (``nn.ELU(alpha=-0.5)`` is not an ELU in the
    catalog's sense: it is not monotonic), so callers that rely on the
    catalog's guarantees check them with ``DEFINITIONS[name].resolve_params``
    (:func:`catalog_module` does).

    Examples:
        >>> catalog_entry(nn.Hardtanh(-2.0, 3.0))
        ('hardtanh', {'min_val': -2.0, 'max_val': 3.0})
    """
    name = catalog_name(module)
    if name is None:
        return None
    definition = DEFINITIONS[name]
    if isinstance(module, ActivationModule):
        learned = {k for k, _ in module.named_parameters(recurse=False)}
        return name, {k: getattr(module, k) if k in learned else v for k, v in module.params.items()}
    return name, {p.name: getattr(module, p.name, p.default) for p in definition.params}


def catalog_module(module: nn.Module) -> Optional[ActivationModule]:
    """The actlab module that computes what ``module`` computes, with learned values copied.

    Returns ``module`` itself for an actlab module, and None when the catalog
    has no entry for its class or its parameters are outside the catalog's
    valid ranges. The copy owns its parameters (a snapshot, not shared).

    Examples:
        >>> catalog_module(nn.LeakyReLU(0.2))
        LeakyReLU(negative_slope=0.2)
    """
    if isinstance(module, ActivationModule):
        return module
    entry = catalog_entry(module)
    if entry is None:
        return None
    name, params = entry
    definition = DEFINITIONS[name]
    tensors = {k: v for k, v in params.items() if torch.is_tensor(v)}
    fixed = {k: v for k, v in params.items() if k not in tensors}
    for k in tensors:  # learned: the module is built learnable, then takes the current values
        if definition.param(k).can_learn:
            fixed[k] = LEARNABLE
    try:
        out = get(name, **fixed)
    except ValueError:
        return None
    with torch.no_grad():
        for k, value in tensors.items():
            target = getattr(out, k)
            target.data = value.detach().clone().reshape(target.shape)
    return out.train(module.training)
