r"""Mean-field signal propagation through a wide random network (Poole et al. 2016; Schoenholz et al. 2017).

A fully connected network with weights :math:`W_{ij} \sim N(0, \sigma_w^2/N)` and
biases :math:`b_i \sim N(0, \sigma_b^2)` has, as the width N grows, Gaussian
pre-activations in every layer. Their variance follows the *variance map*

.. math::

    q^{l+1} = V(q^l) = \sigma_w^2\,\mathbb{E}_{z}[\phi(\sqrt{q^l} z)^2] + \sigma_b^2,

and the correlation of two inputs' pre-activations the *correlation map*

.. math::

    c^{l+1} = \frac{\sigma_w^2\,K(q^*, c^l) + \sigma_b^2}{q^*},\qquad
    K(q, c) = \mathbb{E}[\phi(u_1)\phi(u_2)],\ (u_1, u_2) \sim N\!\left(0, q\begin{pmatrix}1 & c\\ c & 1\end{pmatrix}\right).

Backpropagated squared gradient norms grow per layer by
:math:`\chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*} z)^2]`, the slope of the
correlation map at c = 1. Here phi is the catalog's definition; expectations
come from :mod:`actlab.theory.gauss`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from .activation import Phi, resolve
from .gauss import expect, expect2

Q_MAX = 1e6  # a variance that would settle above this counts as diverging (q* = inf)
Q_ZERO = 1e-30  # stands for the limit q -> 0+: phi and phi' are then read at +-1e-15 z
Q_INF = 1e16  # stands for the limit q -> inf in chi_1 when q* diverges
_Q_GRID = np.geomspace(1e-8, Q_MAX, 57)


@dataclass(frozen=True)
class FixedPoint:
    """One fixed point q of the variance map, with the map's slope V'(q) there.

    ``stable``: |V'(q)| < 1, so nearby variances converge to it.
    """

    q: float
    slope: float
    stable: bool


def _moment(phi: Phi, g, q) -> np.ndarray:
    q = np.maximum(np.asarray(q, dtype=np.float64), Q_ZERO)
    with np.errstate(over="ignore"):  # an exponential phi at a huge q: the moment is inf, and says so
        return expect(g, q, phi.kinks, phi.piece(float(np.min(q))))


def _variance(phi: Phi, q, sigma_w2: float, sigma_b2: float) -> np.ndarray:
    return sigma_w2 * _moment(phi, lambda u: phi.f(u) ** 2, q) + sigma_b2


def _slope(phi: Phi, q: float, sigma_w2: float) -> float:
    """V'(q) = sigma_w2 * d/dq E[phi(sqrt(q) z)^2]."""
    q = max(q, Q_ZERO)
    if phi.jumps:
        # phi' a.e. misses the jumps' delta functions; differentiating the Gaussian density
        # instead needs no phi' at all: d/dq N(u; 0, q) = N(u; 0, q) (u^2/q - 1) / (2q)
        return float(sigma_w2 * _moment(phi, lambda u: phi.f(u) ** 2 * (u * u / q - 1.0), q) / (2.0 * q))
    # Stein's lemma: d/dq E[phi^2] = E[z phi phi'] / sqrt(q) = E[phi'^2 + phi phi''] (no phi'' needed)
    return float(sigma_w2 * _moment(phi, lambda u: u * phi.f(u) * phi.df(u), q) / q)


def _chi1_at(phi: Phi, q: float, sigma_w2: float) -> float:
    if math.isinf(q):
        # the limit q -> inf: read at two huge variances; if it still grows there it is inf
        far, farther = (float(sigma_w2 * _moment(phi, lambda u: phi.df(u) ** 2, v)) for v in (Q_INF / 1e4, Q_INF))
        return math.inf if farther > 2.0 * far else farther  # polynomial growth shows as a factor >= 100
    return float(sigma_w2 * _moment(phi, lambda u: phi.df(u) ** 2, q))


@lru_cache(maxsize=4096)
def _gap_on_grid(phi: Phi, sigma_w2: float, sigma_b2: float) -> tuple[np.ndarray, bool]:
    """V(q) - q on the q grid (0 where it is zero to rounding), and whether it is zero everywhere."""
    gap = _variance(phi, _Q_GRID, sigma_w2, sigma_b2) - _Q_GRID
    on_line = np.abs(gap) <= 1e-12 * _Q_GRID
    return np.where(on_line, 0.0, gap), bool(on_line.all())


def _root(phi: Phi, sigma_w2: float, sigma_b2: float, lo: float, hi: float) -> float:
    h = lambda q: float(_variance(phi, q, sigma_w2, sigma_b2)) - q  # noqa: E731
    at_lo, at_hi = h(lo), h(hi)
    if at_lo * at_hi >= 0.0:
        # the grid saw a sign change that rounding erases here (V - q is ~1e-16 q at a marginal end)
        return lo if abs(at_lo) <= abs(at_hi) else hi
    return brentq(h, lo, hi, xtol=1e-300, rtol=1e-15)


@lru_cache(maxsize=4096)
def _fixed_points(phi: Phi, sigma_w2: float, sigma_b2: float) -> tuple[tuple[FixedPoint, ...], bool]:
    """All fixed points in [0, Q_MAX], and whether every q is one (a marginal, linear map)."""
    gap, marginal = _gap_on_grid(phi, sigma_w2, sigma_b2)
    if marginal:
        return (), True
    v0 = float(sigma_w2 * phi.f(np.zeros(1))[0] ** 2 + sigma_b2)
    roots = [0.0] if v0 == 0.0 else []
    if v0 > 0.0 and gap[0] < 0.0:
        roots.append(_root(phi, sigma_w2, sigma_b2, 0.0, _Q_GRID[0]))
    for i in range(len(_Q_GRID)):
        if gap[i] == 0.0:
            roots.append(float(_Q_GRID[i]))
        elif i + 1 < len(_Q_GRID) and gap[i] * gap[i + 1] < 0.0:
            roots.append(_root(phi, sigma_w2, sigma_b2, _Q_GRID[i], _Q_GRID[i + 1]))
    points = []
    for r in sorted(set(roots)):
        s = _slope(phi, r, sigma_w2)
        points.append(FixedPoint(q=r, slope=s, stable=abs(s) < 1.0))
    return tuple(points), False


@lru_cache(maxsize=4096)
def _q_star(phi: Phi, sigma_w2: float, sigma_b2: float, q0: float = 1.0) -> float:
    """The limit of q <- V(q) from q0: the next fixed point in the direction of V(q0) - q0 (V is increasing)."""
    sigma_w2, sigma_b2, q0 = float(sigma_w2), float(sigma_b2), float(q0)
    gap, marginal = _gap_on_grid(phi, sigma_w2, sigma_b2)
    start = float(_variance(phi, q0, sigma_w2, sigma_b2)) - q0
    if marginal or abs(start) <= 1e-12 * q0:
        return q0
    if start > 0.0:
        for i in np.nonzero(_Q_GRID > q0)[0]:
            if gap[i] <= 0.0:
                lo = _Q_GRID[i - 1] if i > 0 and _Q_GRID[i - 1] > q0 else q0
                return float(_Q_GRID[i]) if gap[i] == 0.0 else _root(phi, sigma_w2, sigma_b2, lo, _Q_GRID[i])
        return math.inf
    for i in np.nonzero(_Q_GRID < q0)[0][::-1]:
        if gap[i] >= 0.0:
            hi = _Q_GRID[i + 1] if i + 1 < len(_Q_GRID) and _Q_GRID[i + 1] < q0 else q0
            return float(_Q_GRID[i]) if gap[i] == 0.0 else _root(phi, sigma_w2, sigma_b2, _Q_GRID[i], hi)
    if float(sigma_w2 * phi.f(np.zeros(1))[0] ** 2 + sigma_b2) == 0.0:
        return 0.0
    return _root(phi, sigma_w2, sigma_b2, 0.0, min(_Q_GRID[0], q0))


def _check_weights(sigma_w2: float, sigma_b2: float) -> None:
    if not (sigma_w2 > 0.0 and math.isfinite(sigma_w2)):
        raise ValueError(f"sigma_w2 must be a finite number > 0 (got {sigma_w2}); it is the weight variance times fan-in")
    if not (sigma_b2 >= 0.0 and math.isfinite(sigma_b2)):
        raise ValueError(f"sigma_b2 must be a finite number >= 0 (got {sigma_b2}); it is the bias variance")


def variance_map(name: str, q, sigma_w2: float, sigma_b2: float, **params) -> np.ndarray:
    r"""The variance map V(q) = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2.

    Args:
        name: activation name or spec string (``'elu:alpha=0.5'``).
        q: pre-activation variance(s), >= 0 (0 means the limit q -> 0+).
        sigma_w2, sigma_b2: weight variance times fan-in, and bias variance.
        **params: the activation's parameters.

    Returns:
        V(q), shaped like ``q``.

    Examples:
        >>> round(float(variance_map("relu", 3.0, 2.0, 0.0)), 12)  # ReLU keeps q when sigma_w2 = 2
        3.0
    """
    _check_weights(sigma_w2, sigma_b2)
    return _variance(resolve(name, params), q, sigma_w2, sigma_b2)


def fixed_points(name: str, sigma_w2: float, sigma_b2: float, **params) -> tuple[FixedPoint, ...]:
    """Every fixed point of the variance map in [0, 1e6], stable and unstable, in increasing order.

    Empty when the map is the identity on every q (ReLU at sigma_w2 = 2,
    sigma_b2 = 0: every variance is kept). A stable point that appears or
    vanishes as sigma_w2 moves (a fold) shows up here as a pair of points, one
    stable and one unstable, that meet.

    Examples:
        >>> [round(p.q, 6) for p in fixed_points("tanh", 2.0, 0.0)]  # 0 is unstable, q* stable
        [0.0, 0.617965]
    """
    _check_weights(sigma_w2, sigma_b2)
    return _fixed_points(resolve(name, params), float(sigma_w2), float(sigma_b2))[0]


def fixed_point(name: str, sigma_w2: float, sigma_b2: float, q0: float = 1.0, **params) -> float:
    r"""q*: the variance the pre-activations settle at, starting from variance ``q0``.

    The variance map is increasing for every catalog activation, so iterating
    it from q0 moves monotonically to the nearest fixed point in the direction
    V(q0) - q0; that limit is q*, and it is a stable fixed point (or q0
    itself when q0 is already a fixed point). Two limits are returned as
    numbers rather than raised: ``0.0`` when the variance shrinks to zero
    (sigma_b2 = 0 and phi(0) = 0 in the ordered phase, e.g. tanh with
    sigma_w2 < 1) and ``math.inf`` when it grows without bound (no fixed point
    up to 1e6 above q0, e.g. ReLU with sigma_w2 > 2). Use
    :func:`fixed_points` to see every branch.

    Args:
        name: activation name or spec string.
        sigma_w2: weight variance times fan-in, > 0.
        sigma_b2: bias variance, >= 0.
        q0: the input's pre-activation variance (1.0: unit-variance inputs at sigma_w2 = 1).
        **params: the activation's parameters (learnable ones: their default).

    Returns:
        q* (float, possibly 0.0 or inf as above).

    Examples:
        >>> round(fixed_point("selu", 1.0, 0.0), 9)  # LeCun-normal SELU keeps unit variance
        1.0
    """
    _check_weights(sigma_w2, sigma_b2)
    if not (q0 > 0.0 and math.isfinite(q0)):
        raise ValueError(f"q0 must be a finite variance > 0 (got {q0})")
    return _q_star(resolve(name, params), float(sigma_w2), float(sigma_b2), float(q0))


def chi1(name: str, sigma_w2: float, sigma_b2: float, q0: float = 1.0, **params) -> float:
    r"""chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2]: the per-layer growth of squared gradient norms.

    chi_1 < 1 is the ordered phase (gradients vanish, inputs become alike),
    chi_1 > 1 the chaotic phase (gradients explode, nearby inputs decorrelate),
    chi_1 = 1 the edge of chaos. At q* = 0 it is the limit q -> 0+ (the mean of
    the one-sided slopes phi'(0-)^2 and phi'(0+)^2); at q* = inf the limit
    q -> inf. For a discontinuous phi it uses phi' almost everywhere, as
    backpropagation does.

    Examples:
        >>> chi1("tanh", 0.5, 0.0)  # q* = 0, chi_1 = sigma_w2 tanh'(0)^2
        0.5
    """
    _check_weights(sigma_w2, sigma_b2)
    phi = resolve(name, params)
    return _chi1_at(phi, _q_star(phi, float(sigma_w2), float(sigma_b2), q0), sigma_w2)


def kernel(name: str, q, c, **params) -> np.ndarray:
    r"""The NNGP kernel K(q, c) = E[phi(u1) phi(u2)] for (u1, u2) ~ N(0, q [[1, c], [c, 1]]).

    Args:
        name: activation name or spec string.
        q: the common variance, > 0; a pair (q1, q2) gives unequal variances
            (then c is the correlation and the covariance is c sqrt(q1 q2)).
        c: correlation(s) in [-1, 1].

    Returns:
        K, shaped like ``c``.

    Examples:
        >>> round(float(kernel("relu", 2.0, 0.0)), 12)  # q / (2 pi) at c = 0
        0.318309886184
    """
    q1, q2 = (q, q) if np.ndim(q) == 0 else (float(q[0]), float(q[1]))
    if not (q1 > 0 and q2 > 0):
        raise ValueError(f"kernel: variances must be > 0 (got {q})")
    c = np.asarray(c, dtype=np.float64)
    if np.any(np.abs(c) > 1.0) or np.any(np.isnan(c)):
        raise ValueError("kernel: correlations must lie in [-1, 1]")
    phi = resolve(name, params)
    return expect2(phi.f, phi.f, float(q1), float(q2), c, phi.kinks, phi.kinks)


def _c_map(phi: Phi, c, q: float, sigma_w2: float, sigma_b2: float) -> np.ndarray:
    # Dividing by V(q) instead of q* itself keeps the limit q* -> 0+ finite and exact at q = q*.
    q = max(q, Q_ZERO)
    k = expect2(phi.f, phi.f, q, q, c, phi.kinks, phi.kinks)
    return (sigma_w2 * k + sigma_b2) / float(_variance(phi, q, sigma_w2, sigma_b2))


def _finite_q_star(phi: Phi, sigma_w2: float, sigma_b2: float, what: str) -> float:
    q = _q_star(phi, float(sigma_w2), float(sigma_b2))
    if math.isinf(q):
        raise ValueError(
            f"{phi.label}: the variance diverges at sigma_w2={sigma_w2:g}, sigma_b2={sigma_b2:g} (q* = inf), "
            f"so {what} is undefined; lower sigma_w2 (see actlab.theory.fixed_points)")
    return q


def correlation_map(name: str, c, sigma_w2: float, sigma_b2: float, **params) -> np.ndarray:
    r"""The correlation map c -> (sigma_w2 K(q*, c) + sigma_b2) / q* at the variance fixed point q*.

    Raises:
        ValueError: when q* is infinite (no correlation map exists there).

    Examples:
        >>> round(float(correlation_map("relu", 0.0, 2.0, 0.0)), 12)  # 1/pi
        0.318309886184
    """
    _check_weights(sigma_w2, sigma_b2)
    phi = resolve(name, params)
    q = _finite_q_star(phi, sigma_w2, sigma_b2, "the correlation map")
    return _c_map(phi, c, q, sigma_w2, sigma_b2)


@lru_cache(maxsize=4096)
def _c_star(phi: Phi, sigma_w2: float, sigma_b2: float) -> float:
    q = _finite_q_star(phi, sigma_w2, sigma_b2, "c*")
    # A jump in phi makes 1 - c' ~ sqrt(1 - c) near c = 1: c = 1 then repels whatever chi_1 is
    # (chi_1 only sees phi' almost everywhere), so the search below runs for every such phi
    if not phi.jumps and _chi1_at(phi, q, sigma_w2) <= 1.0:
        return 1.0
    h = lambda c: float(_c_map(phi, c, q, sigma_w2, sigma_b2)) - c  # noqa: E731
    # K(q, c) = sum_n a_n^2 c^n (Hermite expansion of phi) is increasing and convex on [0, 1], so
    # h(c) = c_map(c) - c is convex there, h(0) = (sigma_w2 E[phi]^2 + sigma_b2)/q* >= 0 and
    # h(1) = 0 with slope chi_1 - 1 > 0: exactly one root c* in [0, 1), below 1 - delta for small delta
    if h(0.0) <= 0.0:
        return 0.0
    delta = 1e-2
    while h(1.0 - delta) >= 0.0 and delta > 1e-9:
        delta /= 10.0
    if h(1.0 - delta) >= 0.0:
        return 1.0  # chi_1 is so close to 1 that c* cannot be told from 1
    return brentq(h, 0.0, 1.0 - delta, xtol=1e-13)


def correlation_fixed_point(name: str, sigma_w2: float, sigma_b2: float, **params) -> float:
    """c*: the stable fixed point of the correlation map (1 in the ordered phase, below 1 in the chaotic one).

    Examples:
        >>> correlation_fixed_point("tanh", 0.5, 0.1)
        1.0
    """
    _check_weights(sigma_w2, sigma_b2)
    return _c_star(resolve(name, params), float(sigma_w2), float(sigma_b2))


def _chi_c(phi: Phi, sigma_w2: float, sigma_b2: float) -> float:
    q = _finite_q_star(phi, sigma_w2, sigma_b2, "chi_c")
    c = _c_star(phi, float(sigma_w2), float(sigma_b2))
    if c == 1.0:
        return _chi1_at(phi, q, sigma_w2)
    if phi.jumps:
        # E[phi' phi'] misses the jumps' delta functions; differentiate the map itself instead
        h = 1e-5 * min(1.0 - c, 1.0 + c, 1.0)
        ends = _c_map(phi, np.array([c - h, c + h]), q, sigma_w2, sigma_b2)
        return float((ends[1] - ends[0]) / (2.0 * h))
    qq = max(q, Q_ZERO)
    return float(sigma_w2 * expect2(phi.df, phi.df, qq, qq, c, phi.kinks, phi.kinks))


def chi_c(name: str, sigma_w2: float, sigma_b2: float, **params) -> float:
    r"""chi_c = sigma_w2 E[phi'(u1) phi'(u2)] at c*: the slope of the correlation map at its fixed point.

    Equals chi_1 when c* = 1 (Schoenholz et al. 2017, eq. 5). For a
    discontinuous phi (binary step, hardshrink) c = 1 is never stable and
    chi_c is the map's slope at c* < 1, by a central difference.
    """
    _check_weights(sigma_w2, sigma_b2)
    return _chi_c(resolve(name, params), float(sigma_w2), float(sigma_b2))


def _scale(slope: float) -> float:
    """-1 / log(slope): the depth over which a deviation shrinks by e; inf at slope 1."""
    if slope >= 1.0 - 1e-13:
        return math.inf
    if slope <= 0.0:
        return 0.0
    return -1.0 / math.log(slope)


def depth_scales(name: str, sigma_w2: float, sigma_b2: float, **params) -> tuple[float, float]:
    r"""(xi_q, xi_c): how many layers the variance and the correlation take to reach their fixed points.

    Schoenholz et al. 2017, eqs. 4 and 7:
    :math:`\xi_q^{-1} = -\log(\chi_1 + \sigma_w^2 \mathbb{E}[\phi''\phi])`, the log
    of the variance map's slope V'(q*), and :math:`\xi_c^{-1} = -\log \chi_c`.
    xi_c diverges at the edge of chaos; Schoenholz et al. found networks
    trainable up to a depth of about 6 xi_c.

    Returns:
        (xi_q, xi_c); xi_c is inf at chi_c = 1, and both are nan when q* is inf.

    Examples:
        >>> [round(x, 4) for x in depth_scales("tanh", 1.5, 0.05)]
        [1.6828, 15.791]
    """
    _check_weights(sigma_w2, sigma_b2)
    phi = resolve(name, params)
    q = _q_star(phi, float(sigma_w2), float(sigma_b2))
    if math.isinf(q):
        return math.nan, math.nan
    return _scale(abs(_slope(phi, q, sigma_w2))), _scale(_chi_c(phi, float(sigma_w2), float(sigma_b2)))
