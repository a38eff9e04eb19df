"""The activation as the theory sees it: phi and phi' on NumPy arrays, its kinks, its name.

Read from the catalog's one definition (``spec.forward`` and
``spec.derivative`` in float64). Learnable parameters take their default
value, the value a network starts from. Activations that are not elementwise
(softmax, the gated linear units) are refused: the mean-field maps assume each
unit applies phi to its own pre-activation.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from ..catalog import LEARNABLE, parse
from ..catalog import spec as catalog_spec


@dataclass(frozen=True)
class Phi:
    """phi and phi' of one activation at fixed parameters, NumPy float64 in and out.

    ``jumps`` is True when phi itself is discontinuous (binary step,
    hardshrink): phi' is then the derivative almost everywhere, which is what
    backpropagation sees, and slopes of the variance map use a form that needs
    no phi'. ``periodic`` asks the quadrature for narrower pieces.
    """

    name: str
    params: tuple[tuple[str, object], ...]
    kinks: tuple[float, ...]
    jumps: bool
    periodic: bool
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in self.params)

    def piece(self, q: float) -> float:
        """Widest quadrature piece in z for variance q (narrower when phi oscillates)."""
        if not self.periodic:
            return 1.0
        # pieces of at most ~2 units of u while that is affordable (q <= 1e4)
        return float(min(1.0, max(2.0 / np.sqrt(max(q, 1e-300)), 0.02)))


def _numpy(fn, params: dict):
    def call(u):
        t = torch.as_tensor(np.asarray(u, dtype=np.float64))
        return fn(t, **params).numpy()
    return call


def is_elementwise(name: str) -> bool:
    """True when ``name`` (canonical) applies one function to each unit on its own."""
    spec = catalog_spec(name)
    return not (spec.vector or getattr(spec, "gated", False))


def resolve(name: str, params: dict) -> Phi:
    """The :class:`Phi` for ``name`` (a name or spec string such as ``'elu:alpha=0.5'``) and ``params``.

    Raises:
        UnknownActivation: the catalog's error for an unknown name.
        ValueError: for a parameter outside its range, or an activation that is not elementwise.
    """
    base, given = parse(name)
    given = {**given, **params}
    return _resolve(base, tuple(sorted(given.items())))


@lru_cache(maxsize=256)
def _resolve(name: str, given: tuple) -> Phi:
    spec = catalog_spec(name)
    if not is_elementwise(name):
        how = "gates one half of its input with the other" if getattr(spec, "gated", False) else \
            "mixes the units of a vector"
        raise ValueError(
            f"theory: '{name}' is not elementwise (it {how}); the mean-field maps "
            "assume each unit applies phi to its own pre-activation (Poole et al. 2016), so they do not "
            "apply to it. Choose an elementwise activation (see 'actlab list')")
    resolved = spec.resolve_params(dict(given))
    values = {k: (spec.param(k).default if v == LEARNABLE else v) for k, v in resolved.items()}
    formula = spec.formula_params(values)
    kinks = tuple(float(k) for k in spec.kinks_at(values))
    shown = tuple((k, v) for k, v in sorted(formula.items()) if v != spec.param(k).default)
    return Phi(name=name, params=shown, kinks=kinks, jumps=spec.smoothness == "discontinuous",
               periodic=spec.family == "periodic", f=_numpy(spec.forward, formula),
               df=_numpy(spec.derivative, formula))
