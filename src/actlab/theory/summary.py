"""Everything the theory says about one activation at one initialisation, as one dict (for the CLI and reports)."""
from __future__ import annotations

import math
from typing import Optional

from .activation import resolve
from .critical import TRAINABLE_DEPTH_MULTIPLE, NoCriticalPoint, critical_sigma_w2
from .meanfield import (_c_star, _check_weights, _chi1_at, _fixed_points, _q_star, _scale, _slope, _chi_c)
from .phase import CHAOTIC, DIVERGING, ORDERED, PHASES

DEFAULT_SIGMA_W2 = 1.0  # LeCun normal: std 1/sqrt(fan_in), the same reference point for every activation


def summary(name: str, sigma_w2: Optional[float] = None, sigma_b2: float = 0.0, **params) -> dict:
    """q*, chi_1, phase, depth scales, c*, the critical sigma_w2 and the trainable depth, for one setting.

    Args:
        name: activation name or spec string.
        sigma_w2: weight variance times fan-in (default 1.0, LeCun normal).
        sigma_b2: bias variance.
        **params: the activation's parameters.

    Returns:
        A dict of plain numbers and strings; inf where a quantity diverges,
        None where it is undefined (and ``critical_reason`` saying why when
        there is no critical point).

    Examples:
        >>> s = summary("relu", 2.0)
        >>> round(s["chi1"], 12), s["phase"]
        (1.0, 'critical')
    """
    sigma_w2 = DEFAULT_SIGMA_W2 if sigma_w2 is None else float(sigma_w2)
    sigma_b2 = float(sigma_b2)
    _check_weights(sigma_w2, sigma_b2)
    phi = resolve(name, params)
    points, marginal = _fixed_points(phi, sigma_w2, sigma_b2)
    q = _q_star(phi, sigma_w2, sigma_b2)
    chi = _chi1_at(phi, q, sigma_w2)
    out = {"activation": phi.label, "sigma_w2": sigma_w2, "sigma_b2": sigma_b2, "q_star": q,
           "fixed_points": [{"q": p.q, "slope": p.slope, "stable": p.stable} for p in points],
           "every_q_fixed": marginal, "chi1": chi}
    if math.isinf(q):
        out.update(phase=PHASES[DIVERGING], c_star=None, chi_c=None, xi_q=None, xi_c=None, trainable_depth=None)
    else:
        code = ORDERED if chi < 1.0 - 1e-12 else CHAOTIC if chi > 1.0 + 1e-12 else None
        chi_c = _chi_c(phi, sigma_w2, sigma_b2)
        xi_c = _scale(chi_c)
        out.update(phase=PHASES[code] if code is not None else "critical",
                   c_star=_c_star(phi, sigma_w2, sigma_b2), chi_c=chi_c,
                   xi_q=_scale(abs(_slope(phi, q, sigma_w2))), xi_c=xi_c,
                   trainable_depth=TRAINABLE_DEPTH_MULTIPLE * xi_c)
    try:
        w_c = critical_sigma_w2(phi.name, sigma_b2, **dict(phi.params))
        out.update(critical_sigma_w2=w_c, critical_gain=math.sqrt(w_c),
                   critical_q_star=_q_star(phi, w_c, sigma_b2), critical_reason=None)
    except NoCriticalPoint as e:
        out.update(critical_sigma_w2=None, critical_gain=None, critical_q_star=None, critical_reason=str(e))
    return out
