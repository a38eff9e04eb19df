"""The order-to-chaos phase diagram over (sigma_w2, sigma_b2) (Poole et al. 2016, Fig. 2; Schoenholz et al. 2017, Fig. 1).

Each grid point is ordered (chi_1 < 1: inputs converge, gradients vanish),
chaotic (chi_1 > 1: inputs decorrelate, gradients explode) or diverging (q* =
inf: the activations themselves blow up). The critical line is
``critical_sigma_w2`` at each sigma_b2; the correlation depth scale xi_c
diverges on it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .activation import resolve
from .critical import NoCriticalPoint, critical_sigma_w2
from .meanfield import _chi1_at, _chi_c, _q_star, _scale

ORDERED, CHAOTIC, DIVERGING = 0, 1, 2
PHASES = ("ordered", "chaotic", "diverging")


@dataclass(frozen=True)
class PhaseDiagram:
    """Grids over sigma_b2 (rows) x sigma_w2 (columns), and the critical line.

    ``phase`` holds ORDERED, CHAOTIC or DIVERGING; ``xi_c`` and ``q_star`` are
    nan / inf where the variance diverges; ``critical`` is the critical
    sigma_w2 at each sigma_b2, nan where none exists.
    """

    name: str
    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    q_star: np.ndarray
    chi1: np.ndarray
    xi_c: np.ndarray
    phase: np.ndarray
    critical: np.ndarray


def phase_diagram(name: str, sigma_w2=None, sigma_b2=None, **params) -> PhaseDiagram:
    """Compute q*, chi_1, xi_c and the phase on a (sigma_b2, sigma_w2) grid, and the critical line.

    Args:
        name: activation name or spec string.
        sigma_w2: grid of weight variances (default 24 points in [0.25, 4]).
        sigma_b2: grid of bias variances (default 11 points in [0, 0.5]).
        **params: the activation's parameters.

    Returns:
        A :class:`PhaseDiagram`.

    Examples:
        >>> d = phase_diagram("tanh", sigma_w2=[0.5, 2.0], sigma_b2=[0.0])
        >>> [PHASES[p] for p in d.phase[0]]
        ['ordered', 'chaotic']
    """
    phi = resolve(name, params)
    ws = np.asarray(np.linspace(0.25, 4.0, 24) if sigma_w2 is None else sigma_w2, dtype=np.float64)
    bs = np.asarray(np.linspace(0.0, 0.5, 11) if sigma_b2 is None else sigma_b2, dtype=np.float64)
    if ws.ndim != 1 or bs.ndim != 1 or not len(ws) or not len(bs) or ws.min() <= 0 or bs.min() < 0:
        raise ValueError("phase_diagram: sigma_w2 must be a non-empty list of numbers > 0 and "
                         "sigma_b2 a non-empty list of numbers >= 0")
    shape = (len(bs), len(ws))
    q_star, chi, xi_c = np.full(shape, math.inf), np.full(shape, math.nan), np.full(shape, math.nan)
    phase = np.full(shape, DIVERGING, dtype=int)
    for i, b in enumerate(bs):
        for j, w in enumerate(ws):
            q = _q_star(phi, float(w), float(b))
            q_star[i, j] = q
            chi[i, j] = _chi1_at(phi, q, float(w))
            if math.isinf(q):
                continue
            phase[i, j] = ORDERED if chi[i, j] < 1.0 else CHAOTIC
            xi_c[i, j] = _scale(_chi_c(phi, float(w), float(b)))
    critical = np.full(len(bs), math.nan)
    for i, b in enumerate(bs):
        try:
            critical[i] = critical_sigma_w2(phi.name, float(b), **dict(phi.params))
        except NoCriticalPoint:
            pass
    return PhaseDiagram(name=phi.label, sigma_w2=ws, sigma_b2=bs, q_star=q_star, chi1=chi, xi_c=xi_c,
                        phase=phase, critical=critical)
