"""Name-to-definition registry, aliases as data, and the one factory."""
from __future__ import annotations

import difflib
from typing import Union

from torch import nn

from . import definitions, gated, literature
from .module import ActivationModule, make_module_class
from .spec import Activation

# Catalog order: the frameworks' activations, then the literature's, then the gated units.
ALL: tuple[Activation, ...] = definitions.ALL + literature.ALL + gated.ALL


def normalise(name: str) -> str:
    """Case, hyphens and spaces do not matter: 'Leaky-ReLU' == 'leaky_relu'."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


DEFINITIONS: dict[str, Activation] = {a.name: a for a in ALL}
CLASSES: dict[str, type[ActivationModule]] = {a.name: make_module_class(a) for a in ALL}
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
    """Parse ``"name"``, ``"name:key=value:key=value"`` or ``"name:value"``.

    A bare value is allowed when the activation has exactly one parameter
    (``"leaky_relu:0.2"``). Parameters are validated here, so malformed
    strings fail before any work starts.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty activation specification {text!r}; expected e.g. 'relu' or 'elu:alpha=0.2'")
    head, *rest = text.split(":")
    canonical = resolve(head)
    definition = DEFINITIONS[canonical]
    params: dict = {}
    for item in rest:
        if not item.strip():
            raise ValueError(f"empty parameter in {text!r}; expected 'name:key=value'")
        if "=" in item:
            key, _, val = item.partition("=")
            params[key.strip()] = _value(val)
        else:
            free = [p.name for p in definition.params if p.passed]
            if len(free) != 1:
                raise ValueError(f"{text!r}: give parameters as key=value for {canonical} "
                                 f"(its parameters: {', '.join(free) or 'none'})")
            params[free[0]] = _value(item)
    definition.resolve_params(params)  # validate now, with the usual messages
    return canonical, params


def label(text: str) -> str:
    """A canonical, stable label for a spec string: 'ELU:alpha=0.2' -> 'elu:alpha=0.2'."""
    name, params = parse(text)
    return name + "".join(f":{k}={v}" for k, v in sorted(params.items()))
