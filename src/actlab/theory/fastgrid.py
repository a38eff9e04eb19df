r"""The phase diagram for a whole (sigma_w2, sigma_b2) grid at once, in well under a second.

:func:`~actlab.theory.phase_diagram` solves every grid point on its own (one
root search per point, one critical-line search per row): exact, and one to
two minutes per activation on the default 24 x 11 grid. The catalog site and
docs draw a panel for every activation, so this module does the same work
for all grid points together:

1. the gap :math:`V(q) - q` of the variance map
   :math:`V(q) = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q} z)^2] + \sigma_b^2` on the
   precise code's q grid, for every grid point in one quadrature call
   (:func:`actlab.theory.gauss.expect`, the same rule split at the kinks);
2. the bracket of q* reached from q0 = 1, chosen exactly as
   :func:`~actlab.theory.fixed_point` chooses it (V is increasing, so q*
   is the next root in the direction of V(1) - 1; none above 1 means q* = inf,
   V(0) = 0 below means q* = 0);
3. all brackets refined together (Illinois false position) to 1e-14 relative width;
4. :math:`\chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*} z)^2]` in one more call, and
   :math:`\xi_c = -1/\log\chi_1` where the network is ordered (there c* = 1 and
   :math:`\chi_c = \chi_1`); in the chaotic phase c* < 1 needs a two-dimensional
   search per point, so xi_c is left nan there (the panel draws its contours
   on the ordered side);
5. the critical line by linear interpolation of chi_1 = 1 between neighbouring
   grid points of a row where q* is finite on both sides (within the grid's
   resolution; :func:`~actlab.theory.critical_sigma_w2` gives it exactly).

q* and chi_1 agree with the precise functions to about 1e-12 (the same
quadrature; tests/test_theory_fastgrid.py asks 1e-6).
"""
from __future__ import annotations

import math

import numpy as np

from .activation import Phi, resolve
from .meanfield import Q_INF, Q_ZERO, _Q_GRID, _scale
from .phase import CHAOTIC, DIVERGING, ORDERED, PhaseDiagram
from .gauss import expect

_MAX_STEPS = 200  # Illinois steps; brackets shrink below 1e-14 relative width in ~10-20
_CHUNK = 4096  # variances per quadrature call: bounds memory at a few tens of MB


def _moments(phi: Phi, g, q: np.ndarray) -> np.ndarray:
    """E[g(sqrt(q) z)] for a flat array of variances, in chunks (and per piece width when phi oscillates)."""
    q = np.maximum(np.asarray(q, dtype=np.float64), Q_ZERO)
    out = np.empty_like(q)
    if phi.periodic:
        # narrower pieces at large q; widths rounded down to a power of two so that few groups remain
        # (a narrower piece than the precise code's is at least as accurate)
        widths = np.array([2.0 ** math.floor(math.log2(phi.piece(v))) for v in q])
    else:
        widths = np.ones(len(q))
    for width in np.unique(widths):
        idx = np.nonzero(widths == width)[0]
        for start in range(0, len(idx), _CHUNK):
            at = idx[start:start + _CHUNK]
            with np.errstate(over="ignore", invalid="ignore"):
                out[at] = expect(g, q[at], phi.kinks, float(width))
    return out


def _second_moment(phi: Phi, q: np.ndarray) -> np.ndarray:
    return _moments(phi, lambda u: phi.f(u) ** 2, q)


def _q_star(phi: Phi, w: np.ndarray, b: np.ndarray, q0: float = 1.0) -> np.ndarray:
    """q* from q0 for flat arrays of (sigma_w2, sigma_b2), the bracket rule of meanfield._q_star.

    V(q) - q = sigma_w2 M(q) + sigma_b2 - q with M(q) = E[phi(sqrt(q) z)^2] the same for every
    grid point, so M is computed once on the q grid and at q0.
    """
    grid = _Q_GRID
    m = _second_moment(phi, np.append(grid, q0))
    raw = w[:, None] * m[None, :-1] + b[:, None] - grid[None, :]
    on_line = np.abs(raw) <= 1e-12 * grid
    marginal = on_line.all(axis=1)
    gap = np.where(on_line, 0.0, raw)
    start = w * m[-1] + b - q0
    v0 = w * float(phi.f(np.zeros(1))[0]) ** 2 + b

    n = len(w)
    q = np.full(n, math.nan)
    lo, hi, h_lo, h_hi = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    q[marginal | (np.abs(start) <= 1e-12 * q0)] = q0
    for k in np.nonzero(np.isnan(q))[0]:
        if start[k] > 0.0:
            above = np.nonzero((grid > q0) & (gap[k] <= 0.0))[0]
            if not len(above):
                q[k] = math.inf
                continue
            i = above[0]
            if gap[k, i] == 0.0:
                q[k] = grid[i]
            elif i > 0 and grid[i - 1] > q0:
                lo[k], h_lo[k], hi[k], h_hi[k] = grid[i - 1], raw[k, i - 1], grid[i], raw[k, i]
            else:
                lo[k], h_lo[k], hi[k], h_hi[k] = q0, start[k], grid[i], raw[k, i]
        else:
            below = np.nonzero((grid < q0) & (gap[k] >= 0.0))[0]
            if len(below):
                i = below[-1]
                if gap[k, i] == 0.0:
                    q[k] = grid[i]
                elif i + 1 < len(grid) and grid[i + 1] < q0:
                    lo[k], h_lo[k], hi[k], h_hi[k] = grid[i], raw[k, i], grid[i + 1], raw[k, i + 1]
                else:
                    lo[k], h_lo[k], hi[k], h_hi[k] = grid[i], raw[k, i], q0, start[k]
            elif v0[k] == 0.0:
                q[k] = 0.0
            else:
                top = min(grid[0], q0)
                lo[k], h_lo[k], hi[k], h_hi[k] = 0.0, v0[k], top, w[k] * m[0] + b[k] - top
    todo = np.nonzero(np.isnan(q))[0]
    if len(todo):
        q[todo] = _illinois(phi, w[todo], b[todo], lo[todo], hi[todo], h_lo[todo], h_hi[todo])
    return q


def _illinois(phi: Phi, w, b, a, c, fa, fc) -> np.ndarray:
    """The root of V(q) - q in each bracket [a, c] (values fa, fc there), all refined together.

    The Illinois variant of false position: superlinear, and it never leaves the bracket. A
    bracket whose ends do not differ in sign (rounding, at a marginal end) gives the end nearer
    zero, as meanfield._root does.
    """
    root = np.where(np.abs(fa) <= np.abs(fc), a, c)
    active = np.nonzero(fa * fc < 0.0)[0]
    a, c, fa, fc = a[active], c[active], fa[active], fc[active]
    w, b = w[active], b[active]
    best = np.where(np.abs(fa) <= np.abs(fc), a, c)
    for _ in range(_MAX_STEPS):
        if not len(active):
            break
        x = c - fc * (c - a) / (fc - fa)
        x = np.where((x > np.minimum(a, c)) & (x < np.maximum(a, c)), x, 0.5 * (a + c))
        fx = w * _second_moment(phi, x) + b - x
        keep = fx * fc < 0.0  # the root lies between x and c: c becomes the far end a
        a, fa = np.where(keep, c, a), np.where(keep, fc, 0.5 * fa)
        c, fc = x, fx
        best = x
        done = (fx == 0.0) | (np.abs(c - a) <= 1e-14 * np.maximum(np.abs(c), 1e-300))
        root[active[done]] = best[done]
        left = ~done
        active, a, c, fa, fc, w, b, best = (v[left] for v in (active, a, c, fa, fc, w, b, best))
    root[active] = best
    return root



def _chi1(phi: Phi, q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """chi_1 at q* (the limit q -> inf where q* is inf, as meanfield._chi1_at reads it)."""
    chi = np.full(len(q), math.nan)
    finite = np.isfinite(q)
    chi[finite] = w[finite] * _moments(phi, lambda u: phi.df(u) ** 2, q[finite])
    if (~finite).any():
        far, farther = _moments(phi, lambda u: phi.df(u) ** 2, np.array([Q_INF / 1e4, Q_INF]))
        chi[~finite] = np.where(w[~finite] * farther > 2.0 * w[~finite] * far, math.inf, w[~finite] * farther)
    return chi


def _critical_line(ws: np.ndarray, chi: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per row, the first sigma_w2 where chi_1 rises through 1 between two finite-q* grid points (else nan)."""
    line = np.full(chi.shape[0], math.nan)
    for i in range(chi.shape[0]):
        for j in range(chi.shape[1]):
            if chi[i, j] == 1.0 and np.isfinite(q[i, j]):
                line[i] = ws[j]
                break
            if j + 1 < chi.shape[1] and chi[i, j] < 1.0 < chi[i, j + 1] and np.isfinite(q[i, j:j + 2]).all():
                t = (1.0 - chi[i, j]) / (chi[i, j + 1] - chi[i, j])
                line[i] = ws[j] + t * (ws[j + 1] - ws[j])
                break
    return line


def fast_phase_diagram(name: str, sigma_w2=None, sigma_b2=None, **params) -> PhaseDiagram:
    """The :class:`~actlab.theory.phase.PhaseDiagram` of ``name``, all grid points solved together.

    Same grids, q*, chi_1 and phases as :func:`~actlab.theory.phase_diagram`
    (to ~1e-12); differs in two stated ways: xi_c is given only in the
    ordered phase (nan in the chaotic one, and for activations that jump,
    whose c* is never 1), and the critical line is interpolated between grid
    points rather than solved for.

    Args:
        name: activation name or spec string (``'elu:alpha=0.5'``).
        sigma_w2: grid of weight variances (default 24 points in [0.25, 4]).
        sigma_b2: grid of bias variances (default 11 points in [0, 0.5]).
        **params: the activation's parameters.

    Returns:
        A :class:`~actlab.theory.phase.PhaseDiagram`.

    Raises:
        ValueError: for a grid that is empty or out of range, or an activation that is not elementwise.

    Examples:
        >>> d = fast_phase_diagram("tanh", sigma_w2=[0.5, 2.0], sigma_b2=[0.0])
        >>> [round(float(x), 6) for x in d.q_star[0]]
        [0.0, 0.617965]
    """
    phi = resolve(name, params)
    ws = np.asarray(np.linspace(0.25, 4.0, 24) if sigma_w2 is None else sigma_w2, dtype=np.float64)
    bs = np.asarray(np.linspace(0.0, 0.5, 11) if sigma_b2 is None else sigma_b2, dtype=np.float64)
    if ws.ndim != 1 or bs.ndim != 1 or not len(ws) or not len(bs) or ws.min() <= 0 or bs.min() < 0 \
            or not np.isfinite(ws).all() or not np.isfinite(bs).all():
        raise ValueError("fast_phase_diagram: sigma_w2 must be a non-empty list of finite numbers > 0 and "
                         "sigma_b2 a non-empty list of finite numbers >= 0")
    w, b = (a.reshape(-1) for a in np.meshgrid(ws, bs))  # rows: sigma_b2, columns: sigma_w2
    q = _q_star(phi, w, b)
    chi = _chi1(phi, q, w)
    shape = (len(bs), len(ws))
    phase = np.where(np.isinf(q), DIVERGING, np.where(chi < 1.0, ORDERED, CHAOTIC)).astype(int)
    xi = np.full(len(q), math.nan)
    if not phi.jumps:
        for k in np.nonzero(phase == ORDERED)[0]:
            xi[k] = _scale(float(chi[k]))
    q, chi, phase, xi = (a.reshape(shape) for a in (q, chi, phase, xi))
    return PhaseDiagram(name=phi.label, sigma_w2=ws, sigma_b2=bs, q_star=q, chi1=chi, xi_c=xi, phase=phase,
                        critical=_critical_line(ws, chi, q))
