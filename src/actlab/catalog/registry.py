"""Name-to-definition registry, aliases as data, and the one factory."""
from __future__ import annotations

import difflib
import math
import re
from typing import Union

from torch import nn

from .docs import docstring
from .entries import ALL
from .gated import GatedActivationModule
from .module import ActivationModule, make_module_class
from .spec import Activation


def normalise(name: str) -> str:
    """Case, hyphens and spaces do not matter: 'Leaky-ReLU' == 'leaky_relu'."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


DEFINITIONS: dict[str, Activation] = {a.name: a for a in ALL}
CLASSES: dict[str, type[ActivationModule]] = {
    a.name: make_module_class(a, docstring(a, "module"), base=GatedActivationModule if a.gated else None)
    for a in ALL}
ALIASES: dict[str, str] = {}
for _a in ALL:
    for _key in (_a.name, *_a.aliases, _a.class_name):
        _k = normalise(_key)
        if ALIASES.get(_k, _a.name) != _a.name:
            raise RuntimeError(f"alias {_key!r} names both {ALIASES[_k]} and {_a.name}")
        ALIASES[_k] = _a.name
        ALIASES[_k.replace("_", "")] = _a.name


class UnknownActivation(KeyError, ValueError):
    """An activation name that is neither a canonical name nor an alias."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def names() -> list[str]:
    """Canonical names of every activation, in catalog order."""
    return list(DEFINITIONS)


def resolve(name: str) -> str:
    """The canonical name for ``name`` or an alias; a helpful error otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string, got {type(name).__name__}")
    key = normalise(name)
    if key in ALIASES:
        return ALIASES[key]
    if key.replace("_", "") in ALIASES:
        return ALIASES[key.replace("_", "")]
    close = difflib.get_close_matches(key, list(ALIASES), n=3, cutoff=0.6)
    close = list(dict.fromkeys(ALIASES[c] for c in close))
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownActivation(f"unknown activation {name!r}{hint} (see 'actlab list' for all names)")


def spec(name: str) -> Activation:
    """The definition of an activation (by name or alias)."""
    return DEFINITIONS[resolve(name)]


def get(name: Union[str, nn.Module, type], **params) -> nn.Module:
    """Build the activation ``name`` as a ``torch.nn.Module``.

    ``name`` may be a canonical name, an alias, or a spec string with
    parameters (``"elu:alpha=0.2"``); a module instance is returned as is, and
    a module class is instantiated with ``params``.
    """
    if isinstance(name, nn.Module):
        if params:
            raise ValueError("parameters were given together with an already built module")
        return name
    if isinstance(name, type) and issubclass(name, nn.Module):
        return name(**params)
    base, parsed = parse(name)
    parsed.update(params)
    return CLASSES[base](**parsed)


def _value(text: str):
    t = text.strip()
    low = t.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    if low == "learnable":
        return "learnable"
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            raise ValueError(f"cannot read parameter value {text!r}: expected a number, "
                             "'learnable', 'none', 'true' or 'false'") from None


def parse(text: str) -> tuple[str, dict]:
    """Parse ``"name"``, ``"name:key=value:key=value"`` (or ``,`` between parameters) or ``"name:value"``.

    A bare value is allowed when the activation has exactly one parameter
    (``"leaky_relu:0.2"``). Parameters are validated here, so malformed
    strings fail before any work starts: a key given twice, a NaN or
    infinite value and a value outside the parameter's range are refused
    with the range.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty activation specification {text!r}; expected e.g. 'relu' or 'elu:alpha=0.2'")
    head, _, tail = text.partition(":")
    canonical = resolve(head)
    definition = DEFINITIONS[canonical]
    by_name = {p.name: p for p in definition.params}
    params: dict = {}
    for item in re.split(r"[:,]", tail) if tail or ":" in text else ():
        if not item.strip():
            raise ValueError(f"empty parameter in {text!r}; expected 'name:key=value'")
        if "=" in item:
            key, _, val = item.partition("=")
            key = key.strip()
        else:
            free = [p.name for p in definition.params if p.passed]
            if len(free) != 1:
                raise ValueError(f"{text!r}: give parameters as key=value for {canonical} "
                                 f"(its parameters: {', '.join(free) or 'none'})")
            key, val = free[0], item
        if key in params:
            raise ValueError(f"{text!r}: parameter '{key}' is given more than once; give it once")
        params[key] = _value(val)
        value = params[key]
        if isinstance(value, float) and not math.isfinite(value) and key in by_name:
            raise ValueError(f"{canonical}: parameter '{key}' = {val.strip()} is not a finite number; "
                             f"expected a number in {by_name[key].range_text()}")
    definition.resolve_params(params)  # validate now, with the usual messages
    return canonical, params


def _canonical_value(value) -> str:
    """One spelling per value: integral floats without '.0' (2.0 -> '2'), others by shortest repr."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def label(text: str) -> str:
    """The canonical label of a spec string: one activation, one label.

    The canonical name, then every parameter that differs from its default,
    sorted by name, with numbers in one spelling: 'ELU:alpha=0.50' ->
    'elu:alpha=0.5'; 'elu', 'elu:alpha=1' and 'elu:alpha=1.0' -> 'elu'.
    """
    name, given = parse(text)
    definition = DEFINITIONS[name]
    resolved = definition.resolve_params(given)
    defaults = definition.resolve_params({})
    return name + "".join(f":{k}={_canonical_value(v)}" for k, v in sorted(resolved.items())
                          if k in given and v != defaults[k])
