r"""Every activation as a function, like ``torch.nn.functional`` and ``jax.nn``.

``actlab.functional.elu(x, alpha=1.0)`` computes exactly what
``actlab.get("elu", alpha=1.0)(x)`` computes, bit for bit, and
``actlab.functional.elu_derivative(x, alpha=1.0)`` what its ``.derivative(x)``
gives; vector and gated units also get ``NAME_jvp(x, v, ...)``, the module's
``.jvp(x, v)``. Each call goes through a module of the catalog (built once per
parameter setting and cached), so the function takes the same path (native
op, analytic ``autograd.Function`` or composite formula), the same exact-limit
guards, and validates its parameters with the same messages.

Parameters are numbers; a parameter that a module can learn (Swish's beta,
PReLU's weight) may also be a tensor, e.g. an ``nn.Parameter`` of your own,
and gradients reach it. Vector and gated units take ``dim``; RReLU takes
``training`` (default False, as ``torch.nn.functional.rrelu``).

The functions are generated at import from the registry, each with its own
docstring (formula, arguments, edge behaviour, an example, "See also");
``functional.pyi`` states their signatures for editors (``make stubs``).

Examples:
    >>> import torch, actlab.functional as AF
    >>> AF.elu(torch.tensor([-1.0, 0.0, 2.0]), alpha=0.5)
    tensor([-0.3161,  0.0000,  2.0000])
    >>> AF.silu(torch.tensor([1.0]), beta=torch.tensor(2.0, requires_grad=True)).requires_grad
    True
"""
from __future__ import annotations

import inspect
import threading
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call

from .catalog.docs import docstring
from .catalog.registry import CLASSES, DEFINITIONS
from .catalog.spec import LEARNABLE, Activation


class _Method(nn.Module):
    """One of its module's methods (``derivative``, ``jvp``) as ``forward``, so that functional_call
    can swap the module's parameters for the caller's tensors around it."""

    def __init__(self, module: nn.Module, method: str):
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args):
        return getattr(self.module, self.method)(*args)


# A plain dict rather than functools.lru_cache, which torch.compile does not look through.
_MODULES: dict[tuple, nn.Module] = {}
_MAX_MODULES = 4096  # a bound, not an LRU: a program uses few parameter settings


def _module(name: str, resolved: tuple, training: bool, thread: int, method: str,
            frozen_on: torch.device | None = None) -> nn.Module:
    """The catalog module for these (already validated) parameters, or a wrapper calling its ``method``.

    ``thread`` is 0 for modules used as they are; a module whose parameters functional_call
    swaps for the caller's tensors is kept per thread, so that two threads never swap the same one.
    ``frozen_on``: a module whose parameters are given as numbers, held on that device with
    ``requires_grad`` off (constants: no cached nn.Parameter is trained by accident).
    """
    key = (name, resolved, training, thread, method, None if frozen_on is None else str(frozen_on))
    found = _MODULES.get(key)
    if found is None:
        if len(_MODULES) >= _MAX_MODULES:
            _MODULES.clear()
        found = CLASSES[name](**dict(resolved)).train(training)
        if frozen_on is not None:
            found = found.requires_grad_(False).to(frozen_on)
        found = _MODULES[key] = _Method(found, method) if method != "forward" else found
    return found


def _learned(spec: Activation) -> set[str]:
    return {q.name for q in spec.params if q.can_learn or q.always_learned}


def _target(spec: Activation, args: tuple, params: dict, training: bool, method: str) -> tuple[nn.Module, dict]:
    """Validate ``params`` as the module would; (the cached module, or its ``method``'s wrapper, for them;
    the caller's tensors that replace its parameters, {} if none). A module given no tensors serves every
    call with these parameters (one frozen on x's device, every call on that device)."""
    x = args[0]
    learned = _learned(spec)
    given, tensors = {}, {}
    for key, value in params.items():
        if key in learned and isinstance(value, str) and value == LEARNABLE:
            raise ValueError(
                f"{spec.name}: a function takes the value of '{key}' (a number or a tensor), not "
                f"'learnable'; use actlab.get({spec.name!r}, {key}='learnable') for a module that learns it")
        if key in learned and torch.is_tensor(value):
            tensors[key] = value
            value = LEARNABLE
        given[key] = value
    resolved = spec.resolve_params(given)  # the module's validation, with its messages
    # Parameters the module always learns (PReLU's weight), given as numbers: all of them, a module holding
    # them frozen on x's device; beside tensors for others, the constant tensors the module would hold.
    numbers = [q for q in spec.params if q.always_learned and q.name not in tensors]
    device = x.device if torch.is_tensor(x) else torch.device("cpu")
    if numbers and tensors:
        for q in numbers:
            tensors[q.name] = torch.full((resolved.get("num_parameters", 1),), float(resolved[q.name]),
                                         device=device)
            resolved[q.name] = LEARNABLE
    frozen_on = device if numbers and not tensors else None
    thread = threading.get_ident() if tensors else 0
    module = _module(spec.name, tuple(sorted(resolved.items())), training, thread, method, frozen_on)
    return module, tensors


# Parameter values a call may be remembered by (hashable, and equal only to their like); a tensor never is.
_PLAIN = frozenset((int, float, bool, str, type(None)))


# What each generated function computes: its name's suffix, the module method, the inputs before the parameters.
KINDS = {"function": ("", "forward", ("x",)), "derivative": ("_derivative", "derivative", ("x",)),
         "jvp": ("_jvp", "jvp", ("x", "v"))}


def _signature(spec: Activation, inputs: tuple[str, ...], with_training: bool) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(name, kind) for name in inputs]
    params += [inspect.Parameter(q.name, kind, default=q.default) for q in spec.params if q.passed]
    if with_training:
        params.append(inspect.Parameter("training", inspect.Parameter.KEYWORD_ONLY, default=False))
    return inspect.Signature(params)


def _bind(spec: Activation, fname: str, inputs: tuple[str, ...], args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """(the inputs, the parameters): positional parameters follow the inputs in the definition's
    order, then keywords; what is not a parameter is left to validation, for its message."""
    names = [q.name for q in spec.params if q.passed]
    values = list(args[:len(inputs)])
    for name in inputs[len(values):]:
        if name not in kwargs:
            raise TypeError(f"{fname}() missing required argument '{name}'")
        values.append(kwargs.pop(name))
    rest = args[len(inputs):]
    if len(rest) > len(names):
        raise TypeError(f"{fname}() takes {', '.join(inputs)} and at most {len(names)} positional "
                        f"parameter(s) ({', '.join(names) or 'none'}); got {len(rest)}")
    params = dict(zip(names, rest))
    for key, value in kwargs.items():
        if key in params:
            raise TypeError(f"{fname}() got multiple values for argument '{key}'")
        q = next((q for q in spec.params if q.name == key), None)
        if q is not None and not q.passed:
            raise ValueError(f"{spec.name}: '{key}' shapes a module's parameter tensor; a function takes "
                             f"the tensor itself (e.g. a weight of shape ({key},))")
        params[key] = value
    return tuple(values), params


def _make(spec: Activation, kind: str) -> Callable:
    suffix, method, inputs = KINDS[kind]
    fname = spec.name + suffix
    with_training = spec.stochastic and kind == "function"

    n = len(inputs)
    # The module a call's parameters (plain numbers, given the same way) resolved to, so that a repeated call
    # skips binding and validation (3 us, more than a small tensor's activation): a program uses few settings.
    seen: dict[tuple, nn.Module] = {}
    # A module whose parameters are given as numbers is frozen on x's device (_target): remembered per device.
    per_device = any(q.always_learned for q in spec.params)

    def fn(*args: Any, **kwargs: Any) -> torch.Tensor:
        key = None
        if len(args) == n and not kwargs:  # the defaults: the commonest call, and the cheapest to recognise
            key = ()
        elif len(args) >= n:
            rest, named = args[n:], tuple(kwargs.items())
            # Types too: 1, 1.0 and True are equal keys but not the same argument (validation may differ).
            types = tuple(map(type, rest)) + tuple(type(v) for _, v in named)
            if _PLAIN.issuperset(types):
                key = (rest, named, types)
        if key is not None and per_device:
            key = (key, str(args[0].device)) if torch.is_tensor(args[0]) else None
        if key is not None:
            target = seen.get(key)
            if target is not None:
                return target(*args[:n])
        training = bool(kwargs.pop("training", False)) if with_training else False
        values, params = _bind(spec, fname, inputs, args, kwargs)
        target, tensors = _target(spec, values, params, training, method)
        if tensors:
            prefix = "" if method == "forward" else "module."
            return functional_call(target, {prefix + k: v for k, v in tensors.items()}, values)
        if key is not None:
            if len(seen) >= _MAX_MODULES:
                seen.clear()
            seen[key] = target
        return target(*values)

    fn.__name__ = fn.__qualname__ = fname
    fn.__module__ = __name__
    fn.__doc__ = docstring(spec, kind)
    fn.__signature__ = _signature(spec, inputs, with_training)
    return fn


def kinds(spec: Activation) -> list[str]:
    """The functions ``spec`` gets: f and f', and J v where its module has a Jacobian (vector and gated units)."""
    return ["function", "derivative"] + (["jvp"] if hasattr(CLASSES[spec.name], "jvp") else [])


__all__: list[str] = []
for _spec in DEFINITIONS.values():
    for _kind in kinds(_spec):
        _fn = _make(_spec, _kind)
        if _fn.__name__ in globals():
            raise RuntimeError(f"actlab.functional: the name {_fn.__name__!r} is taken; rename the activation")
        globals()[_fn.__name__] = _fn
        __all__.append(_fn.__name__)
del _spec, _kind, _fn
