"""Properties of an activation, computed numerically from its definition.

Nothing here is taken on trust from the declared fields of a definition: the
forward and the analytic derivative are evaluated in float64 on a dense grid
over [-20, 20] (shifted by an irrational fraction of a step so that kinks at
round numbers never fall on a grid point), on log-spaced tails out to +-1e4,
and at +-inf where the formula gives a number there. The tests then check the
declared fields against what is computed here.

How each property is decided:

* **singular points** (jumps of f, f' or f''): an interval of the grid where
  Simpson's rule on f' does not reproduce the change in f is a candidate; it
  is narrowed by bisection to a point p, and one-sided differences at p+-d for
  two sizes of d tell which of f, f', f'' jumps (a real jump keeps its size as
  d shrinks; a steep but smooth change shrinks with d). Jumps smaller than
  1e-8 (relative) are ignored, e.g. the 2e-9 step softplus makes at its
  optional threshold. "smooth" means no jump was found in f, f' or f''.
* **extrema**: sign changes of f' on the grid, refined by bisection and kept
  only if f really is lower (or higher) on both sides.
* **dead regions**: where f' is exactly 0. A run of zeros that starts only
  because f' underflowed (tanh beyond |x| = 19, ELU below -745) is not a dead
  region: next to a real one, f' is of ordinary size within one unit.
* **bounds**: inf and sup over the grid, the extrema and the limits at +-inf;
  a bound is *attained* when an extremum or a dead region reaches it.
* **zero-centred**: |E f(z)| <= 0.1 sd f(z) for z ~ N(0, 1); mean and
  variance by Gauss-Legendre quadrature on [-12, 12], split at singular points.
* **saturates** left/right: |f'| on [1e3, 1e4] (and at inf) is below 1e-3 of
  the largest |f'| on [-20, 20].
* **identity near 0**: f(0) = 0 and both one-sided slopes at 0 equal 1.

Softmax is a function of a vector; its properties here are those of the first
component of softmax((x, 0)), i.e. sigmoid(x / T), as its notes say. A gated
unit a * g(b) (GLU, SwiGLU, ...) is described by its gate g, i.e. f at a = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import numpy as np
import torch

from .cost import num_threads
from .gated import gate_values
from .registry import DEFINITIONS, parse
from .spec import LEARNABLE, Activation

DENSE = 20.0  # half-width of the dense grid
STEP = 1e-3  # its step
TAIL = 1e4  # the tails reach this far
_SHIFT = 0.3183098861837907  # 1/pi of a step: keeps round-number kinks off the grid
QUAD_HALF_WIDTH = 12.0  # N(0,1) mass beyond this is below 1e-32
ZERO_CENTRED_RATIO = 0.1
JUMP_RTOL = 1e-8


@dataclass(frozen=True)
class Singularity:
    """A point where f, f' or f'' jumps; ``order`` 0, 1 or 2 says which."""

    x: float
    order: int

    @property
    def kind(self) -> str:
        return ("jump in f", "jump in f'", "jump in f''")[self.order]


@dataclass(frozen=True)
class Extremum:
    x: float
    value: float
    kind: str  # "min" or "max"


@dataclass(frozen=True)
class Properties:
    """What :func:`compute` finds out about one activation with given parameters."""

    name: str
    label: str
    family: str
    params: dict
    inf: float
    sup: float
    inf_attained: bool
    sup_attained: bool
    monotonic: str  # increasing, decreasing, constant or non-monotonic
    smoothness: str  # discontinuous, C0, C1 or smooth
    singular: tuple[Singularity, ...]
    mean: float  # E f(z), z ~ N(0, 1)
    var: float  # Var f(z)
    zero_centred: bool
    f0: float
    df0: float  # f'(0) as the definition computes it (its convention at a kink)
    identity_near_0: bool
    saturates_left: bool
    saturates_right: bool
    max_slope: float  # sup |f'|
    argmax_slope: float
    dead: tuple[tuple[float, float], ...]  # intervals where f' == 0 exactly
    extrema: tuple[Extremum, ...]
    note: str = ""
    cost: Optional[float] = field(default=None, compare=False)

    @property
    def kinks(self) -> tuple[float, ...]:
        return tuple(s.x for s in self.singular)

    def range_text(self) -> str:
        left = "[" if self.inf_attained else "("
        right = "]" if self.sup_attained else ")"
        return f"{left}{fmt(self.inf)}, {fmt(self.sup)}{right}"

    def saturation_text(self) -> str:
        return {(True, True): "both", (True, False): "left", (False, True): "right"}.get(
            (self.saturates_left, self.saturates_right), "no")

    def as_row(self) -> dict:
        """The columns of ``actlab list``, as display strings (cost: 'n/a' when not measured)."""
        return {
            "name": self.label,
            "family": self.family,
            "range": self.range_text(),
            "monotonic": self.monotonic,
            "smooth": self.smoothness,
            "zero-centred": "yes" if self.zero_centred else "no",
            "identity near 0": "yes" if self.identity_near_0 else "no",
            "saturates": self.saturation_text(),
            "cost": "n/a" if self.cost is None else f"{self.cost:.2f}",
        }


def fmt(v: float) -> str:
    """A short, readable number: 4 significant digits, 'inf' for infinities."""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.4g}"


# --------------------------------------------------------------------------- #
# Evaluation straight from the definition
# --------------------------------------------------------------------------- #
def resolve(name_or_spec: str, params: dict) -> tuple[Activation, dict, dict]:
    """(definition, resolved parameters, keyword arguments for forward/derivative).

    A learnable parameter is evaluated at its initial (default) value.
    """
    base, parsed = parse(name_or_spec)
    parsed.update(params)
    spec = DEFINITIONS[base]
    resolved = spec.resolve_params(parsed)
    kwargs = {}
    for p in spec.params:
        if p.passed:
            value = resolved[p.name]
            kwargs[p.name] = p.default if value == LEARNABLE else value
    return spec, resolved, kwargs


def evaluate(spec: Activation, kwargs: dict, x) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f'(x) in float64 from the definition's own forward and derivative.

    For a vector activation (softmax) this is the first component of f((x, 0));
    for a gated unit, a * g(b), it is the gate: g(x) and g'(x).
    """
    t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    with torch.no_grad():
        if spec.gated:
            f, d = gate_values(spec, kwargs, t)
        elif spec.vector:
            pair = torch.stack([t, torch.zeros_like(t)], dim=-1)
            f = spec.forward(pair, **kwargs)[..., 0]
            d = spec.derivative(pair, **kwargs)[..., 0]
        else:
            f, d = spec.forward(t, **kwargs), spec.derivative(t, **kwargs)
    return f.numpy(), d.numpy()


def grid() -> np.ndarray:
    n = int(round(2 * DENSE / STEP))
    dense = -DENSE + (np.arange(n) + _SHIFT) * STEP
    tail = np.geomspace(DENSE, TAIL, 400)
    return np.concatenate([-tail[::-1], dense, tail])


# --------------------------------------------------------------------------- #
# Singular points
# --------------------------------------------------------------------------- #
def _simpson_defect(fa, da, dm, fb, db, a, b):
    """|f(b) - f(a) - Simpson(f' on [a, b])| relative to the scale of f; 0 where undefined."""
    pred = (b - a) / 6 * (da + 4 * dm + db)
    with np.errstate(invalid="ignore", divide="ignore"):
        defect = np.abs(fb - fa - pred)
        scale = 1e-6 * np.abs(fb - fa) + 1e-12 * (1 + np.abs(fa) + np.abs(fb))
        return np.nan_to_num(defect / scale, nan=0.0)


def _localise(fn, a, b):
    """Narrow each interval [a_i, b_i] to the half that keeps the larger Simpson defect."""
    for _ in range(60):
        w = b - a
        f, d = fn(np.stack([a, a + w / 4, a + w / 2, a + 3 * w / 4, b]))
        m = a + w / 2
        left = _simpson_defect(f[0], d[0], d[1], f[2], d[2], a, m)
        right = _simpson_defect(f[2], d[2], d[3], f[4], d[4], m, b)
        go_left = left >= right
        a, b = np.where(go_left, a, m), np.where(go_left, m, b)
        if np.all(b - a <= 1e-13 * (1 + np.abs(a))):
            break
    return 0.5 * (a + b)


def _jumps(fn, p, d):
    """(sizes of the jumps of f, f', f'' at points p seen at distance d, each minus its smooth part; their scales).

    The sizes are raw, so that two step sizes can be compared on one scale.
    """
    f_m, d_m = fn(p - d)
    f_p, d_p = fn(p + d)
    _, d_mm = fn(p - 2 * d)
    _, d_pp = fn(p + 2 * d)
    dd_m = (d_m - d_mm) / d
    dd_p = (d_pp - d_p) / d
    raw = (np.abs(f_p - f_m - d * (d_p + d_m)), np.abs(d_p - d_m - d * (dd_p + dd_m)), np.abs(dd_p - dd_m))
    scale = (1 + np.abs(f_p) + np.abs(f_m), 1 + np.abs(d_p) + np.abs(d_m), 1 + np.abs(dd_p) + np.abs(dd_m))
    return raw, scale


def _orders(fn, p, d):
    """The order (0, 1, 2) of the jump at each p, or None where f is smooth.

    A real jump keeps its size when the step shrinks tenfold; a smooth change
    shrinks with it. Both sizes are measured on the coarse step's scale, so
    that a fast-varying f'' (a sine of high frequency) cannot look constant.
    """
    coarse, scale = _jumps(fn, p, d)
    fine, _ = _jumps(fn, p, d / 10)
    return [next((o for o in range(3) if fine[o][i] > JUMP_RTOL * scale[o][i] and fine[o][i] > 0.3 * coarse[o][i]),
                 None) for i in range(p.size)]


def _tangent_meet(fn, p, d):
    """Where the one-sided tangents of f' at p meet: the kink, where only f'' jumps.

    Near such a kink f can be flat to rounding over ~1e-8 (SQNL at +-2, where
    f' = 0 on one side; StarReLU, whose bias dwarfs s x^2 near 0), so the
    bisection on f stops up to 3e-8 away; f' keeps its precision and, where it
    is piecewise linear, places the kink exactly.
    """
    _, d_mm = fn(p - 2 * d)
    _, d_m = fn(p - d)
    _, d_p = fn(p + d)
    _, d_pp = fn(p + 2 * d)
    sl, sr = (d_m - d_mm) / d, (d_pp - d_p) / d
    with np.errstate(divide="ignore", invalid="ignore"):
        q = p + (d_p - d_m - d * (sl + sr)) / (sl - sr)
    return np.where(np.isfinite(q) & (np.abs(q - p) < d), q, p)


def _singularities(fn, x, f, d) -> tuple[Singularity, ...]:
    a, b = x[:-1], x[1:]
    _, dm = fn(0.5 * (a + b))
    cand = np.flatnonzero(_simpson_defect(f[:-1], d[:-1], dm, f[1:], d[1:], a, b) > 1.0)
    if cand.size == 0:
        return ()
    p = _localise(fn, a[cand], b[cand])
    p = np.unique(np.round(p, 9))
    # Relative to |p| (p +- d must not round), but at most 1e-3: the step must stay small
    # against the scale on which f'' varies (a period of sin(30 x) is 0.21).
    big = np.minimum(1e-5 * (1 + np.abs(p)), 1e-3)
    q = _tangent_meet(fn, p, big)
    at_p, at_q = _orders(fn, p, big), _orders(fn, q, big)
    out = []
    for i in range(p.size):
        if at_q[i] == 2:  # a kink of f' alone: the tangents place it better than the bisection
            out.append(Singularity(float(_snap(q[i])), 2))
        elif at_p[i] is not None:
            out.append(Singularity(float(_snap(p[i])), at_p[i]))
    return tuple(dict.fromkeys(out))


def _snap(v: float) -> float:
    """Round a located point to 9 decimals, so that 0.49999999999 reads as 0.5."""
    r = round(v, 9)
    return 0.0 if r == 0 else r


# --------------------------------------------------------------------------- #
# Extrema, dead regions, slope
# --------------------------------------------------------------------------- #
def _bisect_sign(fn, a, b):
    """Where f' changes sign inside each [a_i, b_i] (f'(a_i) and f'(b_i) of opposite signs)."""
    sa = np.sign(fn(a)[1])
    for _ in range(80):
        m = 0.5 * (a + b)
        sm = np.sign(fn(m)[1])
        same = sm == sa
        a, b = np.where(same, m, a), np.where(same, b, m)
        if np.all(b - a <= 4e-16 * (1 + np.abs(a))):
            break
    return 0.5 * (a + b)


def _extrema(fn, x, d) -> tuple[Extremum, ...]:
    s = np.sign(np.nan_to_num(d))
    nz = np.flatnonzero(s != 0)
    change = nz[:-1][s[nz[:-1]] != s[nz[1:]]]
    if change.size == 0:
        return ()
    nxt = nz[1:][s[nz[:-1]] != s[nz[1:]]]
    roots = _bisect_sign(fn, x[change], x[nxt])
    out = []
    for r, i in zip(roots, change):
        fr = fn(np.array([r]))[0][0]
        delta = 1e-3 * (1 + abs(r))
        fl, fh = fn(np.array([r - delta, r + delta]))[0]
        margin = 1e-14 * (1 + abs(fr))
        if s[i] < 0 and min(fl, fh) > fr + margin:
            out.append(Extremum(float(r), float(fr), "min"))
        elif s[i] > 0 and max(fl, fh) < fr - margin:
            out.append(Extremum(float(r), float(fr), "max"))
    return tuple(out)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [i, j] (inclusive) of consecutive True values."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _edge(fn, inside, outside):
    """The boundary between f' == 0 (at ``inside``) and f' != 0 (at ``outside``), by bisection."""
    a, b = inside, outside
    for _ in range(60):
        m = 0.5 * (a + b)
        if fn(np.array([m]))[1][0] == 0:
            a = m
        else:
            b = m
        if abs(b - a) <= 4e-16 * (1 + abs(a)):
            break
    return _snap(0.5 * (a + b))


def _dead(fn, x, d, scale) -> tuple[tuple[float, float], ...]:
    out = []
    live = np.abs(d) > 0
    for i, j in _runs(d == 0):
        ends = []
        real = True
        for k, step in ((i, -1), (j, 1)):
            nb = k + step
            if nb < 0 or nb >= x.size:
                ends.append(-math.inf if step < 0 else math.inf)
                continue
            edge = _edge(fn, x[k], x[nb])
            near = (np.abs(x - edge) <= 1.0) & live & ((x - edge) * step > 0)
            if not near.any() or np.abs(d[near]).max() < 1e-6 * scale:
                real = False  # f' decays smoothly into underflow here
            ends.append(float(edge))
        if real:
            out.append((ends[0], ends[1]))
    return tuple(out)


def _max_slope(fn, x, d) -> tuple[float, float]:
    far = np.abs(fn(np.array([-1e150, -1e100, 1e100, 1e150]))[1])
    for sign, (farther, nearer) in ((-1, far[:2]), (1, far[:1:-1])):
        if farther >= 2 * nearer > 0:  # f' still grows (squared ReLU): no finite maximum
            return math.inf, sign * math.inf
    ad = np.nan_to_num(np.abs(d), nan=0.0, posinf=math.inf)
    top = np.flatnonzero(ad >= ad.max() * (1 - 1e-12))
    if top.size > 1:  # a plateau (ReLU's 1 for x > 0): report its point nearest 0
        i = int(top[np.argmin(np.abs(x[top]))])
        at0 = abs(fn(np.array([0.0]))[1][0])
        return (float(ad[i]), 0.0) if at0 >= ad[i] * (1 - 1e-12) else (float(ad[i]), float(x[i]))
    i = int(top[0])
    if math.isinf(ad[i]) or abs(x[i]) > DENSE:
        return float(ad[i]), float(x[i])
    lo, hi = x[max(i - 1, 0)], x[min(i + 1, x.size - 1)]
    # golden-section search for the peak of |f'| between the neighbours
    g = (math.sqrt(5) - 1) / 2
    for _ in range(45):
        c, e = hi - g * (hi - lo), lo + g * (hi - lo)
        vc, ve = np.abs(fn(np.array([c, e]))[1])
        if vc >= ve:
            hi = e
        else:
            lo = c
    xm = 0.5 * (lo + hi)
    vm = abs(fn(np.array([xm]))[1][0])
    return (float(vm), float(xm)) if vm > ad[i] else (float(ad[i]), float(x[i]))


# --------------------------------------------------------------------------- #
# Limits, bounds, moments
# --------------------------------------------------------------------------- #
def _limit(fn, sign: int) -> float:
    """lim f(x) as x -> sign*inf.

    The value at inf when the formula gives one that agrees with f far out
    (0 * inf can give garbage); otherwise f at 1e150, or an infinity when |f|
    still grows between 1e100 and 1e150. Evaluating that far out (not at the
    grid's 1e4) matters for slow tails such as softsign's 1 - 1/x.
    """
    at_inf, far, farther = fn(np.array([sign * math.inf, sign * 1e100, sign * 1e150]))[0]
    growing = abs(farther) >= 2 * abs(far) > 0
    if math.isinf(at_inf) and growing and np.sign(at_inf) == np.sign(farther):
        return float(at_inf)
    if math.isfinite(at_inf) and abs(at_inf - farther) <= 1e-6 * (1 + abs(farther)):
        return float(at_inf)
    return math.copysign(math.inf, farther) if growing else float(farther)


def _moments(fn, singular) -> tuple[float, float]:
    """E f(z) and Var f(z) for z ~ N(0, 1) by Gauss-Legendre on pieces free of singular points."""
    cuts = sorted({-QUAD_HALF_WIDTH, QUAD_HALF_WIDTH,
                   *(s.x for s in singular if abs(s.x) < QUAD_HALF_WIDTH)})
    nodes, weights = np.polynomial.legendre.leggauss(24)
    xs, ws = [], []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        pieces = max(1, int(math.ceil((hi - lo) / 0.5)))
        edges = np.linspace(lo, hi, pieces + 1)
        for a, b in zip(edges[:-1], edges[1:]):
            xs.append(0.5 * (b - a) * nodes + 0.5 * (a + b))
            ws.append(0.5 * (b - a) * weights)
    z, w = np.concatenate(xs), np.concatenate(ws)
    w = w * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    f = fn(z)[0]
    mean = float(np.sum(w * f))
    return mean, float(np.sum(w * (f - mean) ** 2))


def _monotonic(f, d) -> str:
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf where f overflows (exp x) reads as NaN: ignored
        df = np.diff(f)
    tol_d = 1e-12 * np.nanmax(np.abs(d))
    tol_f = 1e-12 * (1 + np.abs(f[1:]))
    up = bool(np.all(np.nan_to_num(d) >= -tol_d) and np.all(np.nan_to_num(df) >= -tol_f))
    down = bool(np.all(np.nan_to_num(d) <= tol_d) and np.all(np.nan_to_num(df) <= tol_f))
    if up and down:
        return "constant"
    return "increasing" if up else "decreasing" if down else "non-monotonic"


def _saturates(fn, x, d, sign: int, scale: float) -> bool:
    tail = (x * sign >= TAIL / 10)
    at_inf = fn(np.array([sign * math.inf]))[1][0]
    values = np.abs(d[tail])
    if not math.isnan(at_inf):
        values = np.append(values, abs(at_inf))
    return bool(np.nanmax(values) <= 1e-3 * scale)


# --------------------------------------------------------------------------- #
# The entry point
# --------------------------------------------------------------------------- #
def compute(name_or_spec: str, **params) -> Properties:
    """Compute the properties of an activation, e.g. ``compute("elu", alpha=0.2)``
    or ``compute("elu:alpha=0.2")``. Results are cached per canonical label.
    """
    base, parsed = parse(name_or_spec)
    parsed.update(params)
    DEFINITIONS[base].resolve_params(parsed)  # fail here, with the catalog's message
    # One thread: these are many small tensor ops, and on a loaded machine a
    # multi-threaded op stalls whenever one of its threads is descheduled.
    with num_threads(1):
        return _compute(base, tuple(sorted(parsed.items())))


@lru_cache(maxsize=256)
def _compute(base: str, items: tuple) -> Properties:
    spec, resolved, kwargs = resolve(base, dict(items))
    canonical = base + "".join(f":{k}={v}" for k, v in items)

    def fn(x):
        return evaluate(spec, kwargs, x)

    x = grid()
    f, d = fn(x)
    singular = _singularities(fn, x, f, d)
    smoothness = "smooth"
    if singular:
        smoothness = ("discontinuous", "C0", "C1")[min(s.order for s in singular)]
    max_slope, argmax_slope = _max_slope(fn, x, d)
    # the scale that "small" slopes are judged against; finite even when sup |f'| is not
    scale = float(np.nanmax(np.abs(d[np.abs(x) <= DENSE])))
    extrema = _extrema(fn, x, d)
    dead = _dead(fn, x, d, scale)
    lo_lim, hi_lim = _limit(fn, -1), _limit(fn, 1)
    finite_f = f[np.isfinite(f)]
    inf = min([float(finite_f.min()), lo_lim, hi_lim, *(e.value for e in extrema)])
    sup = max([float(finite_f.max()), lo_lim, hi_lim, *(e.value for e in extrema)])
    in_dead = np.zeros(x.size, dtype=bool)
    for lo, hi in dead:
        in_dead |= (x > lo) & (x < hi)
    reached = [e.value for e in extrema] + ([float(f[in_dead].min()), float(f[in_dead].max())]
                                            if in_dead.any() else [])
    mean, var = _moments(fn, singular)
    f0, df0 = (float(v[0]) for v in fn(np.array([0.0])))
    _, slopes = fn(np.array([-1e-9, 1e-9]))
    return Properties(
        name=spec.name, label=canonical, family=spec.family, params=resolved,
        inf=inf, sup=sup,
        inf_attained=math.isfinite(inf) and any(_close(v, inf) for v in reached),
        sup_attained=math.isfinite(sup) and any(_close(v, sup) for v in reached),
        monotonic=_monotonic(f, d), smoothness=smoothness, singular=singular,
        mean=mean, var=var,
        zero_centred=var > 0 and abs(mean) <= ZERO_CENTRED_RATIO * math.sqrt(var),
        f0=f0, df0=df0,
        identity_near_0=abs(f0) <= 1e-12 and bool(np.all(np.abs(slopes - 1) <= 1e-6)),
        saturates_left=_saturates(fn, x, d, -1, scale),
        saturates_right=_saturates(fn, x, d, 1, scale),
        max_slope=max_slope, argmax_slope=argmax_slope,
        dead=dead, extrema=extrema,
        note=("computed for the gate g(b) of f(a, b) = a * g(b), i.e. f at a = 1" if spec.gated else
              "computed for the first component of softmax((x, 0)), i.e. sigmoid(x / T)" if spec.vector else ""),
    )


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * (1 + abs(b))
