"""Numerical verification of every activation in the catalog.

For each activation and each parameter setting that matters
(``spec.param_settings()``) this checks the module's forward and its analytic
``derivative`` against an independent mpmath reference (precision reached is
declared in the definition as ``precision``/``dprecision`` and asserted here),
against autograd, in every float dtype, at extreme and non-finite inputs, and
against ``torch.nn.functional`` where the definitions coincide.

The mpmath reference is evaluated once per (activation, setting) on a grid of
about 170 points and cached, with the working precision raised until two
successive precisions agree, so cancellation inside a reference formula cannot
go unnoticed.
"""
from __future__ import annotations

import functools
import math
import shutil
import warnings

import mpmath as mp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import actlab
from actlab.catalog import DEFINITIONS, fused
from actlab.catalog.definitions import SELU_ALPHA, SELU_SCALE

ELEMENTWISE = [n for n in actlab.names() if not (DEFINITIONS[n].vector or DEFINITIONS[n].gated)]  # gated: tests/test_catalog_gated.py
CASES = [(n, p) for n in ELEMENTWISE for p in DEFINITIONS[n].param_settings()]


def _case_id(case) -> str:
    name, params = case
    changed = {k: v for k, v in params.items() if v != DEFINITIONS[name].param(k).default}
    return name + "".join(f":{k}={v}" for k, v in changed.items())


CASE_IDS = [_case_id(c) for c in CASES]
case_param = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
EPS64 = float(np.finfo(np.float64).eps)
TINY64 = float(np.finfo(np.float64).tiny)

# snake' = 1 + sin(2 alpha x) has no limit at +-inf, so NaN is the right answer.
NO_DERIVATIVE_LIMIT = {"snake"}
# sin(w0 x) has no limit at +-inf and neither has its derivative: NaN for both. Far out (|x| of
# 1e20 and more) the derivative reference's difference step spans many periods, so only
# finiteness is checked there (f' = w0 cos(w0 x) is bounded and cannot overflow).
NO_LIMIT = {"sinusoid"}
# PyTorch's hardsigmoid backward multiplies by 1/6 as a float32 constant, also
# for float64 tensors (relative error 3e-8); docs/precision.md.
PYTORCH_BACKWARD_RTOL = {"hardsigmoid": 6e-8}


def module(case):
    name, params = case
    return actlab.get(name, **params).eval()


def _key(params: dict) -> tuple:
    return tuple(sorted(params.items()))


# ---------------------------------------------------------------------------
# The high-precision reference
# ---------------------------------------------------------------------------
def _converged(fn, x, start=50, zeros_from=400):
    """fn(x) in mpmath, raising the precision until two successive values agree.

    Two zeros only count as agreement at ``zeros_from`` digits or more: a
    formula that cancels completely at low precision also returns 0.
    """
    previous = None
    for dps in (50, 100, 200, 400, 800, 1600):
        if dps < start:
            continue
        with mp.workdps(dps):
            value = fn(mp.mpf(x), dps)
        if previous is not None:
            if value != 0 and abs(value - previous) <= abs(value) * mp.mpf(10) ** -30 + mp.mpf(10) ** -330:
                return value
            if value == previous == 0 and dps >= zeros_from:
                return value
        previous = value
    raise AssertionError(f"reference did not converge at x={x!r}")


def _ref_value(reference, x):
    return _converged(lambda t, dps: reference(t), x)


def _ref_derivative(reference, x, zeros_from=400):
    def diff(t, dps):
        # Central difference with a step relative to x (so it never crosses a
        # kink at 0); truncation (h/x)^2 is about 10^(-2 dps/3).
        h = (abs(t) if t != 0 else mp.mpf(1)) * mp.mpf(10) ** (-dps // 3)
        return mp.diff(reference, t, h=h)

    # f(x +- h) must differ in the digits we keep: for tiny |x| that takes
    # about 1.5 log10(1/|x|) extra digits.
    start = 50 + (int(-1.5 * math.log10(abs(x))) if 0 < abs(x) < 1 else 0)
    return _converged(diff, x, start, zeros_from)


def _grid(kinks) -> np.ndarray:
    """~170 points: |x| up to 1e4 log-spaced, both signs, a linear core, tiny values, kinks."""
    mag = np.logspace(-8, 4, 50)
    pts = [*mag, *-mag, *np.linspace(-8, 8, 49), 0.0, -0.0, 1e-30, -1e-30, 1e-300, -1e-300, 5e-324, -5e-324]
    for k in kinks:
        step = max(1.0, abs(k))
        pts += [k, k + 1e-3 * step, k - 1e-3 * step, k + 1e-9 * step, k - 1e-9 * step]
    # Most points are float32 numbers, so the same reference serves the float32 check.
    pts = [float(np.float32(p)) if abs(p) > 1e-30 and p not in kinks else p for p in pts]
    return np.unique(np.array(pts, dtype=np.float64))


@functools.lru_cache(maxsize=None)
def reference_table(name: str, key: tuple):
    """(x, f_ref, f'_ref, far_from_kinks) as float64 arrays for one setting."""
    spec = DEFINITIONS[name]
    params = dict(key)
    kinks = spec.kinks_at(params)
    fp = spec.formula_params(params)
    ref = functools.partial(spec.reference, **fp)
    x = _grid(kinks)
    far = np.array([all(abs(t - k) > 1e-12 * max(1.0, abs(k)) for k in kinks) for t in x])
    fx = np.array([float(_ref_value(ref, t)) for t in x])
    dx = np.array([float(_ref_derivative(ref, t)) if ok else np.nan for t, ok in zip(x, far)])
    return x, fx, dx, far


def _bound_violations(got, want, rtol, atol, floor):
    got = np.asarray(got, dtype=np.float64)
    both_inf = np.isinf(want) & (got == want)
    err = np.abs(got - want)
    ok = both_inf | (err <= rtol * np.abs(want) + atol + floor)
    return np.flatnonzero(~ok)


def _explain(bad, x, got, want, rtol, atol, what):
    rows = [f"x={x[i]!r}: got {float(got[i])!r}, want {want[i]!r}, "
            f"rel {abs(float(got[i]) - want[i]) / max(abs(want[i]), 1e-320):.2e}" for i in bad[:6]]
    return f"{what}: {len(bad)} points outside rtol={rtol:g}, atol={atol:g}:\n  " + "\n  ".join(rows)


# ---------------------------------------------------------------------------
# 2. values and derivatives against mpmath, float64 and float32
# ---------------------------------------------------------------------------
@case_param
def test_float64_forward_matches_mpmath(case):
    name, params = case
    x, fx, _, _ = reference_table(name, _key(params))
    with torch.no_grad():
        got = module(case)(torch.tensor(x)).numpy()
    rtol, atol = DEFINITIONS[name].precision
    bad = _bound_violations(got, fx, rtol, atol, TINY64)
    assert not len(bad), _explain(bad, x, got, fx, rtol, atol, f"{name} forward")


@case_param
def test_float64_derivative_matches_mpmath(case):
    name, params = case
    x, _, dx, far = reference_table(name, _key(params))
    got = module(case).derivative(torch.tensor(x[far])).detach().numpy()
    rtol, atol = DEFINITIONS[name].dprecision
    # 1e-100: the reference's own accuracy where f'(x) = 0 exactly (tanhshrink at 0).
    bad = _bound_violations(got, dx[far], rtol, atol, 1e-100)
    assert not len(bad), _explain(bad, x[far], got, dx[far], rtol, atol, f"{name} derivative")


def test_declared_precision_is_near_float64():
    """The declared bounds stay within a few hundred ulps, and atol is only used where needed."""
    for spec in DEFINITIONS.values():
        for rtol, atol in (spec.precision, spec.dprecision):
            assert 0 < rtol <= 5e-13 and 0 <= atol <= 1e-15, (spec.name, rtol, atol)


@case_param
def test_float32_matches_float64_reference(case):
    name, params = case
    x, fx, dx, far = reference_table(name, _key(params))
    in32 = (np.float32(x).astype(np.float64) == x) & (np.abs(x) < 1e30)
    xs = torch.tensor(x[in32], dtype=torch.float32)
    mod = module(case)
    with torch.no_grad():
        got = mod(xs).double().numpy()
    deriv = mod.derivative(xs).detach().double().numpy()
    spec = DEFINITIONS[name]
    eps32, tiny32 = float(torch.finfo(torch.float32).eps), float(torch.finfo(torch.float32).tiny)
    scale = 4 * eps32 / EPS64  # same number of ulps as in float64, plus headroom
    for what, vals, want, mask, (rtol, atol) in (
            ("forward", got, fx[in32], np.ones(in32.sum(), bool), spec.precision),
            ("derivative", deriv, dx[in32], far[in32], spec.dprecision)):
        rt, at = max(rtol, 2 * EPS64) * scale, atol * scale
        # A true value beyond float32's range must come out as inf (exponential above 88.7).
        want = np.where(np.abs(want) > float(torch.finfo(torch.float32).max) * (1 + eps32 / 2),
                        np.copysign(np.inf, want), want)
        bad = _bound_violations(vals[mask], want[mask], rt, at, tiny32)
        assert not len(bad), _explain(bad, x[in32][mask], vals[mask], want[mask], rt, at, f"{name} float32 {what}")


# ---------------------------------------------------------------------------
# 1. analytic derivative against autograd
# ---------------------------------------------------------------------------
def _away_from_kinks(case, x):
    name, params = case
    keep = torch.ones_like(x, dtype=torch.bool)
    for k in DEFINITIONS[name].kinks_at(params):
        keep &= (x - k).abs() > 0.05
    return x[keep]


@case_param
def test_gradcheck(case):
    name, _ = case
    mod = module(case)
    x = _away_from_kinks(case, torch.linspace(-6.3, 6.1, 29, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(mod, (x,))
    if DEFINITIONS[name].smoothness == "smooth":
        assert torch.autograd.gradgradcheck(mod, (x,))


@case_param
def test_derivative_equals_autograd_on_grid(case):
    name, params = case
    x, _, _, far = reference_table(name, _key(params))
    xt = torch.tensor(x[far], requires_grad=True)
    mod = module(case)
    (auto,) = torch.autograd.grad(mod(xt).sum(), xt)
    analytic = mod.derivative(xt.detach())
    rtol, atol = DEFINITIONS[name].dprecision
    # autograd runs PyTorch's own backward formula where the module uses the
    # native op; those cancel in the tails (sigmoid, GELU) up to a few eps
    # absolute, and hardsigmoid's backward uses 1/6 rounded to float32.
    rtol = PYTORCH_BACKWARD_RTOL.get(name, max(4 * rtol, 1e-14))
    torch.testing.assert_close(analytic, auto, rtol=rtol, atol=max(4 * atol, 4e-15))


def _native_with_kinks(case):
    spec = DEFINITIONS[case[0]]
    return spec.native is not None and bool(spec.kinks_at(case[1]))


@pytest.mark.parametrize("case", [c for c in CASES if _native_with_kinks(c)],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if _native_with_kinks(c)])
def test_derivative_convention_at_kinks_matches_pytorch(case):
    """At a kink, actlab's f'(k) is what PyTorch's backward of the same op gives."""
    name, params = case
    spec = DEFINITIONS[name]
    kinks = spec.kinks_at(params)
    mod = module(case)
    x = torch.tensor(kinks, dtype=torch.float64, requires_grad=True)
    fp = {k: (getattr(mod, k) if k in mod._learned else v) for k, v in spec.formula_params(mod.params).items()}
    (native_grad,) = torch.autograd.grad(spec.native(x, **fp).sum(), x)
    assert torch.equal(mod.derivative(x.detach()), native_grad), (kinks, native_grad)


def _with_kinks(case):
    return bool(DEFINITIONS[case[0]].kinks_at(case[1]))


@pytest.mark.parametrize("case", [c for c in CASES if _with_kinks(c)],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if _with_kinks(c)])
def test_module_gradient_at_kinks_is_the_convention(case):
    """At each kink the module's own gradient (whatever path it takes: the op, its kernel, the analytic
    Function or plain autograd of the formula) is the definition's derivative there, its stated convention.
    Plain autograd of a formula gives its ops' choice (clamp counts both ends as inside), so a formula that
    would otherwise serve as the path (it keeps no more than x) serves only where that choice agrees
    (module.composite_agrees_at_kinks): Leaky ReLU6's and the sparse sigmoid's are sums of clamps."""
    name, params = case
    mod = module(case).double()
    kinks = [k for k in DEFINITIONS[name].kinks_at(mod.params) if math.isfinite(k)]
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor(kinks, dtype=dtype, requires_grad=True)
        (grad,) = torch.autograd.grad(mod.to(dtype)(x).sum(), x)
        want = mod.derivative(x.detach())
        assert torch.equal(grad, want), (name, params, dtype, mod.path, kinks, grad.tolist(), want.tolist())


def test_hardswish_kink_convention():
    """PyTorch gives 0 at -3 and 1 at 3 (the outer pieces); so does actlab, and docs say so."""
    x = torch.tensor([-3.0, 3.0], dtype=torch.float64)
    assert actlab.get("hardswish").derivative(x).tolist() == [0.0, 1.0]
    assert actlab.get("relu").derivative(torch.tensor([0.0])).item() == 0.0
    assert "f'(-3) = 0 and f'(3) = 1" in " ".join(DEFINITIONS["hardswish"].notes)


# ---------------------------------------------------------------------------
# 3. extreme and non-finite inputs
# ---------------------------------------------------------------------------
def _extremes(dtype):
    fi = torch.finfo(dtype)
    values = [0.0, -0.0, fi.smallest_normal, -fi.smallest_normal, fi.max, -fi.max, 1.0, -1.0, 1e3, -1e3]
    subnormal = fi.smallest_normal * fi.eps  # the smallest positive subnormal
    values += [subnormal, -subnormal]
    for other in (torch.float16, torch.float32, torch.float64):
        big = torch.finfo(other).max
        if big <= fi.max:
            values += [big, -big]
    return torch.tensor(values, dtype=torch.float64).to(dtype)


@functools.lru_cache(maxsize=None)
def _point_reference(name, key, t):
    """(f(t), f'(t) or None) at one extreme point, shared by all dtypes.

    f' is only needed to tell a legitimate overflow from a spurious one, which
    for these functions can only happen at |t| >= 1; elsewhere it must be finite.
    """
    spec = DEFINITIONS[name]
    params = dict(key)
    ref = functools.partial(spec.reference, **spec.formula_params(params))
    at_kink = any(t == k for k in spec.kinks_at(params))
    no_d = at_kink or abs(t) < 1 or name in NO_LIMIT
    return _ref_value(ref, t), (None if no_d else _ref_derivative(ref, t))


def _extreme_reference(name, key, dtype):
    pairs = [_point_reference(name, key, t) for t in _extremes(dtype).double().tolist()]
    return [f for f, _ in pairs], [d for _, d in pairs]


@case_param
def test_no_spurious_overflow_nan_or_warning(case):
    for dtype in FLOATS:
        _check_extremes(case, dtype)


def _check_extremes(case, dtype):
    name, params = case
    mod = module(case)
    x = _extremes(dtype)
    # Values above max + half an ulp round to inf; below, to a finite number.
    big = torch.finfo(dtype).max * (1 + torch.finfo(dtype).eps / 2)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        with torch.no_grad():
            y = mod(x)
        d = mod.derivative(x)
        if dtype == torch.float64:
            mod.numpy(x.numpy())
    f_ref, d_ref = _extreme_reference(name, _key(params), dtype)
    for i, t in enumerate(x.tolist()):
        overflows = abs(f_ref[i]) > big
        if overflows:
            assert torch.isinf(y[i]) and (y[i] > 0) == (f_ref[i] > 0), (t, y[i])
        else:
            assert torch.isfinite(y[i]), f"{name}({t}) = {y[i].item()} in {dtype}; expected {float(f_ref[i])}"
        if d_ref[i] is None:
            assert torch.isfinite(d[i]), f"{name}'({t}) = {d[i].item()} in {dtype}"
        elif abs(d_ref[i]) > big:
            assert torch.isinf(d[i]), (t, d[i])
        else:
            assert torch.isfinite(d[i]), f"{name}'({t}) = {d[i].item()} in {dtype}; expected {float(d_ref[i])}"


def _large(dtype):
    """Finite magnitudes from 1e4 to the dtype's largest, one per doubling of the decimal exponent, and
    twice the square root of the largest (where an op that squares x overflows), both signs."""
    fi = torch.finfo(dtype)
    mags = [10.0 ** (4 * 2 ** k) for k in range(7) if 4 * 2 ** k < math.log10(fi.max)]
    mags += [2 * math.sqrt(fi.max), 2 * math.sqrt(torch.finfo(torch.float32).max)]
    return [s * m for m in mags if m < fi.max for s in (1.0, -1.0)]


@case_param
def test_autograd_gradient_at_large_finite_inputs(case):
    """Each large finite input alone (and repeated 67 times, PyTorch's vectorised body): the module's
    autograd gradient is the mpmath derivative's value, finite where that is (GELU-tanh's native
    gradient was NaN beyond sqrt(max), where the module's check of x let it through)."""
    name, params = case
    mod = module(case)
    if mod.spec.stochastic or mod.spec.vector or name in NO_LIMIT:
        return
    for dtype in FLOATS:
        big = torch.finfo(dtype).max * (1 + torch.finfo(dtype).eps / 2)
        for t in _large(dtype):
            _, d_ref = _point_reference(name, _key(params), float(torch.tensor(t, dtype=dtype).double()))
            for n in (1, 67):
                x = torch.full((n,), t, dtype=dtype, requires_grad=True)
                mod(x).sum().backward()
                g = x.grad.double()
                where = f"{name}'({t:.3g}) in {dtype} at length {n}: {g[0].item()}, expected {d_ref}"
                if d_ref is None or mod.spec.family == "periodic":  # sin(x) of a huge x: finite, no limit
                    assert torch.isfinite(g).all(), where
                elif abs(d_ref) > big:
                    assert torch.isinf(g).all() and bool((g > 0).all()) == (d_ref > 0), where
                else:
                    want = torch.full_like(g, float(d_ref))
                    # Relative 1e-2, and a few ulps of 1 absolute: 1 + sin(2x) (Snake) cancels at huge x.
                    torch.testing.assert_close(g, want, rtol=1e-2, atol=4 * float(torch.finfo(dtype).eps),
                                               msg=where)


@functools.lru_cache(maxsize=None)
def _limits(name, key):
    spec = DEFINITIONS[name]
    ref = functools.partial(spec.reference, **spec.formula_params(dict(key)))
    out = []
    for sign in (1, -1):
        t = sign * mp.mpf(10) ** 400
        # Nothing cancels to an exact 0 at 1e400, so zeros may agree early.
        f = _converged(lambda v, dps: ref(v), t, zeros_from=100)
        d = _ref_derivative(ref, t, zeros_from=100)
        out.append(tuple(math.copysign(math.inf, v) if abs(v) > 1e300 else float(v) for v in (f, d)))
    return out


@case_param
def test_limits_at_infinity_and_nan_propagation(case):
    for dtype in FLOATS:
        _check_limits(case, dtype)


def _check_limits(case, dtype):
    name, params = case
    mod = module(case)
    x = torch.tensor([math.inf, -math.inf, math.nan], dtype=dtype)
    with torch.no_grad():
        y = mod(x).double()
    d = mod.derivative(x).double()
    assert torch.isnan(y[2]) and torch.isnan(d[2]), "NaN in must give NaN out"
    tol = dict(rtol=4 * float(torch.finfo(dtype).eps), atol=0.0)
    if name in NO_LIMIT:
        assert torch.isnan(y[:2]).all() and torch.isnan(d[:2]).all(), (name, y, d)
        return
    for i, (f_lim, d_lim) in enumerate(_limits(name, _key(params))):
        torch.testing.assert_close(y[i].item(), f_lim, **tol)
        if name in NO_DERIVATIVE_LIMIT:
            assert torch.isnan(d[i])
        else:
            torch.testing.assert_close(d[i].item(), d_lim, **tol)


@case_param
def test_autograd_limits_at_infinity(case):
    """Backpropagating through the module at +-inf gives f'(+-inf), whatever path forward takes."""
    name, params = case
    if name in NO_DERIVATIVE_LIMIT | NO_LIMIT:
        return
    mod = module(case)
    limits = _limits(name, _key(params))
    for dtype in FLOATS:
        # Long enough for PyTorch's vectorised body and its scalar tail to both see each value.
        for sign, (_, d_lim) in zip((1, -1), limits):
            x = torch.full((67,), sign * math.inf, dtype=dtype, requires_grad=True)
            mod(x).sum().backward()
            want = torch.full_like(x.grad, d_lim, dtype=torch.float64)
            torch.testing.assert_close(x.grad.double(), want, rtol=4 * float(torch.finfo(dtype).eps), atol=0.0,
                                       msg=lambda m: f"{name} gradient at {sign}inf in {dtype}: {m}")


def _nan_gradient(mod, dtype, length, at):
    x = torch.zeros(length, dtype=dtype)
    x[at] = math.nan
    x.requires_grad_(True)
    mod(x).sum().backward()
    return x.grad[at].item()


@case_param
def test_nan_gradient_does_not_depend_on_length_or_position(case):
    """PyTorch's CPU kernels run a vectorised body and a scalar tail; for several ops
    they disagree on a NaN input's gradient. The module's answer must not depend on
    where the NaN falls. Guarded native ops and the analytic path give NaN (the definition's
    derivative at NaN); elsewhere PyTorch's own convention stands (relu passes the gradient)."""
    mod = module(case)
    guarded = mod.path == "analytic" or (mod.path == "native" and mod.spec.native_range is not None)
    for dtype in FLOATS:
        seen = {(n, at): _nan_gradient(mod, dtype, n, at) for n in (1, 7, 16, 17, 64, 67) for at in (0, n - 1)}
        values = set(map(repr, seen.values()))
        assert len(values) == 1, f"{case[0]} in {dtype}: NaN gradient varies with length/position: {seen}"
        if guarded:
            assert math.isnan(next(iter(seen.values()))), (case[0], dtype, seen)


@case_param
def test_guarded_native_op_is_still_used_on_ordinary_input(case, monkeypatch):
    """The exact-limit guard must not cost the native op: on finite inputs in range the
    module returns exactly what PyTorch's op returns (the same kernel, bit for bit). Where
    actlab's fused kernel runs instead (catalog/fused.py), its error against the definition's
    formula in float64 is no larger than the op's own (to one float32 rounding)."""
    mod = module(case)
    if mod.path != "native" or mod.spec.stochastic:
        return
    x = torch.randn(1000, dtype=torch.float32, generator=torch.Generator().manual_seed(3)) * 5
    kw = mod._kwargs()
    native = mod.spec.native(x, **kw)
    with torch.no_grad():
        if mod._kernel is not None and fused.applies(x):
            want = mod.spec.forward(x.double(), **kw)
            scale = want.abs().clamp_min(1.0)
            mine, theirs = ((y.double() - want).abs() / scale for y in (mod(x), native))
            assert mine.max() <= theirs.max() + float(torch.finfo(torch.float32).eps), (mine.max(), theirs.max())
            monkeypatch.setattr(fused, "applies", lambda t: False)  # the guarded path, checked below
            mod._fast = None  # (where the kernels are not built no call ever routes the Kernel's one-call path)
        torch.testing.assert_close(mod(x), native, rtol=0, atol=0)


GUARDED_CASES = [(n, p) for n, p in CASES if DEFINITIONS[n].native_range is not None
                 and not DEFINITIONS[n].stochastic and DEFINITIONS[n].native_when(p)]


def _native_right_at_edges(mod, name, params, dtype) -> tuple[bool, bool]:
    """(forward right, backward right) of PyTorch's op at +-inf and NaN, judged by the mpmath limits."""
    native = functools.partial(mod.spec.native, **mod._kwargs())
    tol = dict(rtol=8 * float(torch.finfo(dtype).eps), atol=0.0, equal_nan=True)
    limits = _limits(name, _key(params))
    with torch.no_grad():
        y = native(torch.tensor([math.inf, -math.inf, math.nan], dtype=dtype)).double()
    want = torch.tensor([limits[0][0], limits[1][0], math.nan], dtype=torch.float64)
    forward = torch.isnan(y[2]).item() and torch.allclose(y, want, **tol)
    backward = True
    for value, d_lim in ((math.inf, limits[0][1]), (-math.inf, limits[1][1]), (math.nan, math.nan)):
        for n in (1, 7, 17, 67):
            x = torch.full((n,), value, dtype=dtype, requires_grad=True)
            native(x).sum().backward()
            backward &= torch.allclose(x.grad.double(), torch.full((n,), d_lim, dtype=torch.float64), **tol)
    return forward, backward


@pytest.mark.parametrize("case", GUARDED_CASES, ids=[_case_id(c) for c in GUARDED_CASES])
def test_guarded_op_fault_probe_agrees_with_mpmath_limits(case):
    """The module skips its check of x only where its run-time probe finds PyTorch's op right at
    +-inf and NaN on this CPU; the probe must say so exactly when the op's values (and gradients)
    there are the mpmath limits (and NaN at NaN, at every length)."""
    from actlab.catalog.module import native_faults

    name, params = case
    if name in NO_LIMIT | NO_DERIVATIVE_LIMIT:
        return
    mod = module(case)
    for dtype in FLOATS:
        faults = native_faults(mod.spec, mod._kwargs(), dtype, torch.device("cpu"))
        forward_right, backward_right = _native_right_at_edges(mod, name, params, dtype)
        assert (not faults.forward, not faults.backward) == (forward_right, backward_right), (name, dtype)


@pytest.mark.parametrize("case", GUARDED_CASES, ids=[_case_id(c) for c in GUARDED_CASES])
def test_guarded_op_reads_x_only_when_its_probe_requires(case, monkeypatch):
    """No check of x where the probe finds the op right (ELU's forward: its only fault is a NaN
    input's gradient, so inference runs unchecked), one check where it does not or where the
    declared range is narrower than the dtype's; the op's own result either way. With the
    fused kernel built (catalog/fused.py) there is no check at all, the kernel being exact;
    the guarded path is then checked too, as it runs where the kernels are not built."""
    from actlab.catalog import module as module_file

    name, params = case
    mod = module(case)
    checked = []
    real = module_file.native_is_exact_on
    monkeypatch.setattr(module_file, "native_is_exact_on", lambda x, r: checked.append(r) or real(x, r))
    x = torch.linspace(-3, 3, 13, dtype=torch.float32)
    kernel = mod._kernel is not None and fused.applies(x)
    for guarded in ((False, True) if kernel else (True,)):
        if guarded and kernel:
            monkeypatch.setattr(fused, "applies", lambda t: False)
            mod._fast = None  # (where the kernels are not built no call ever routes the Kernel's one-call path)
        for differentiated in (False, True):
            checked.clear()
            y = mod(x.clone().requires_grad_(differentiated))
            if not guarded:
                assert checked == [], (name, differentiated, checked)
                continue
            faults = module_file.native_faults(mod.spec, mod._kwargs(), x.dtype, x.device)
            needed = (callable(mod.spec.native_range) or mod.spec.native_range < 1 or faults.forward
                      or (differentiated and faults.backward))
            assert len(checked) == int(needed), (name, differentiated, checked)
            with torch.no_grad():
                torch.testing.assert_close(y, mod.spec.native(x, **mod._kwargs()), rtol=0, atol=0)


def test_guarded_probe_runs_inside_inference_mode_and_no_grad(monkeypatch):
    """The first call of a guarded module may come under inference_mode or no_grad; its probe
    must still differentiate the op, and the values must be the mpmath limits."""
    from actlab.catalog import module as module_file

    for context in (torch.inference_mode, torch.no_grad):
        monkeypatch.setattr(module_file, "_NATIVE_FAULTS", {})
        for name in ("elu", "silu", "hardtanh", "gelu"):
            with context():
                y = actlab.get(name)(torch.tensor([math.inf, -math.inf, math.nan])).double()
            (f_plus, _), (f_minus, _) = _limits(name, _key(DEFINITIONS[name].defaults()))
            torch.testing.assert_close(y[:2], torch.tensor([f_plus, f_minus], dtype=torch.float64))
            assert torch.isnan(y[2]), name


# ---------------------------------------------------------------------------
# 4. dtypes and shapes
# ---------------------------------------------------------------------------
@case_param
def test_low_precision_close_to_float64(case):
    for dtype in (torch.float16, torch.bfloat16):
        _check_low_precision(case, dtype)


def _check_low_precision(case, dtype):
    name, params = case
    mod = module(case)
    x = torch.linspace(-20, 20, 161, dtype=torch.float64).to(dtype)
    for k in DEFINITIONS[name].kinks_at(params):  # a kink in the grid makes f' ambiguous
        x = x[(x.double() - k).abs() > 1e-2]
    x64 = x.double()
    with torch.no_grad():
        y = mod(x)
    d = mod.derivative(x)
    assert y.dtype == dtype and d.dtype == dtype
    with torch.no_grad():
        y64 = mod(x64)
    d64 = mod.derivative(x64)
    eps = float(torch.finfo(dtype).eps)
    # Rounding x*c inside the formula costs eps * |x f'(x)|: the condition number.
    dd = (mod.derivative(x64 * (1 + 1e-7)) - d64).abs() / (x64.abs() * 1e-7 + 1e-300)
    tol_f = 4 * eps * (y64.abs() + (x64 * d64).abs()) + float(torch.finfo(dtype).tiny)
    tol_d = 4 * eps * (d64.abs() + (x64 * dd).abs() + 1)
    # Where the true value is beyond the dtype's range (exponential above 11.1 in float16) the
    # answer is inf; elsewhere within the tolerance.
    big = torch.finfo(dtype).max * (1 + eps / 2)
    for got, want, tol in ((y, y64, tol_f), (d, d64, tol_d)):
        over = want.abs() > big
        assert (got[over].double() == torch.copysign(torch.tensor(torch.inf, dtype=torch.float64), want[over])).all()
        bad = ~over & ((got.double() - want).abs() > tol)
        assert not bad.any(), x[bad]


@case_param
def test_autograd_in_every_dtype(case):
    mod = module(case)
    for dtype in FLOATS:
        x = torch.linspace(-3, 3, 13, dtype=dtype).requires_grad_()
        y = mod(x)
        assert y.dtype == dtype
        y.sum().backward()
        assert x.grad.dtype == dtype and torch.isfinite(x.grad).all(), dtype


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_shapes(name):
    mod = actlab.get(name).eval()
    base = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for x in (torch.tensor(0.7, dtype=torch.float64), torch.empty(0, 3, dtype=torch.float64), base,
              base.transpose(1, 3), base[:, :, ::2]):
        with torch.no_grad():
            y = mod(x)
        d = mod.derivative(x)
        assert y.shape == x.shape and d.shape == x.shape
        with torch.no_grad():
            flat = mod(x.contiguous().reshape(-1)).reshape(x.shape) if name != "prelu" else y
        # Vectorised and scalar tails may round differently by an ulp.
        torch.testing.assert_close(y, flat, rtol=4 * EPS64, atol=TINY64)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_integer_input_is_promoted_and_complex_refused(name):
    mod = actlab.get(name).eval()
    with torch.no_grad():
        y = mod(torch.arange(-3, 4))
    assert y.dtype == torch.get_default_dtype()
    with torch.no_grad():
        torch.testing.assert_close(y, mod(torch.arange(-3, 4, dtype=torch.get_default_dtype())))
    with pytest.raises(TypeError, match="real tensors"):
        mod(torch.zeros(3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="real tensors"):
        mod.derivative(torch.zeros(3, dtype=torch.complex128))


def test_promotion_is_documented():
    from actlab.catalog import module as module_file

    assert "promote" in module_file.as_float_tensor.__doc__.lower()


# ---------------------------------------------------------------------------
# 5. torch.compile
# ---------------------------------------------------------------------------
def test_torch_compile_forward_and_backward():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile needs a C compiler for the CPU backend; none on PATH")
    torch._dynamo.reset()
    layers = torch.nn.Sequential(
        actlab.get("gelu"),  # native op
        actlab.get("squareplus"),  # analytic autograd.Function
        actlab.get("silu", beta="learnable"),  # learned parameter, composite
        actlab.get("softmax"),
    ).double()
    x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    compiled = torch.compile(layers)
    outputs = []
    for fn in (layers, compiled):
        xi = x.clone().requires_grad_()
        y = fn(xi)
        (y * torch.arange(6.0, dtype=torch.float64)).sum().backward()
        outputs.append((y.detach(), xi.grad, layers[2].beta.grad.clone()))
        layers.zero_grad()
    for eager, comp in zip(*outputs):
        torch.testing.assert_close(comp, eager, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------
# 6. learned parameters
# ---------------------------------------------------------------------------
def test_prelu_per_channel_state_dict_round_trip_and_training(tmp_path):
    prelu = actlab.get("prelu", num_parameters=3)
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    prelu(x).sum().backward()
    # The gradient of each channel's slope is the sum of its negative inputs.
    expected = torch.where(x < 0, x, torch.zeros_like(x)).sum(dim=(0, 2, 3))
    torch.testing.assert_close(prelu.weight.grad, expected)
    torch.optim.SGD(prelu.parameters(), lr=0.1).step()
    assert not torch.allclose(prelu.weight, torch.full((3,), 0.25))
    torch.save(prelu.state_dict(), tmp_path / "prelu.pt")
    fresh = actlab.get("prelu", num_parameters=3)
    fresh.load_state_dict(torch.load(tmp_path / "prelu.pt"))
    torch.testing.assert_close(fresh(x), prelu(x), rtol=0, atol=0)
    assert fresh(x.double()).dtype == torch.float64


def test_learnable_silu_beta_round_trip_and_training(tmp_path):
    silu = actlab.get("silu", beta="learnable")
    assert isinstance(silu.beta, torch.nn.Parameter)
    x = torch.linspace(-3, 3, 11)
    silu(x).sum().backward()
    # d/dbeta [x sigma(beta x)] = x^2 sigma'(beta x)
    s = torch.sigmoid(x)
    torch.testing.assert_close(silu.beta.grad, (x * x * s * (1 - s)).sum().reshape(1))
    torch.optim.SGD(silu.parameters(), lr=0.5).step()
    state = silu.state_dict()
    torch.save(state, tmp_path / "silu.pt")
    fresh = actlab.get("silu", beta="learnable")
    fresh.load_state_dict(torch.load(tmp_path / "silu.pt"))
    assert fresh.beta.item() == silu.beta.item() != 1.0
    torch.testing.assert_close(fresh(x), silu(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# 7. agreement with torch.nn.functional
# ---------------------------------------------------------------------------
def _uses_native(case):
    spec = DEFINITIONS[case[0]]
    return spec.native is not None and not spec.stochastic and spec.native_when(spec.resolve_params(case[1]))


@pytest.mark.parametrize("case", [c for c in CASES if _uses_native(c)],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if _uses_native(c)])
def test_formula_equals_native_op(case):
    name, params = case
    spec = DEFINITIONS[name]
    x, _, _, _ = reference_table(name, _key(params))
    xt = torch.tensor(x)
    fp = spec.formula_params(params)
    if name == "prelu":
        fp = {"weight": torch.tensor([params["weight"]], dtype=torch.float64)}
    mine, native = spec.forward(xt, **fp), spec.native(xt, **fp)
    rtol, atol = spec.precision
    torch.testing.assert_close(mine, native, rtol=2 * max(rtol, 2 * EPS64), atol=2 * atol + TINY64)


def _grid_tensor(lo=-30, hi=30, n=241):
    return torch.cat([torch.linspace(lo, hi, n, dtype=torch.float64),
                      torch.logspace(-6, 4, 41, dtype=torch.float64),
                      -torch.logspace(-6, 4, 41, dtype=torch.float64)])


def test_pytorch_equivalences():
    x = _grid_tensor()
    same = functools.partial(torch.testing.assert_close, rtol=2 * EPS64, atol=0)
    with torch.no_grad():
        same(actlab.get("softplus", threshold=20)(x), F.softplus(x, threshold=20))
        same(actlab.get("softplus", beta=2.0, threshold=20)(x), F.softplus(x, beta=2.0, threshold=20))
        same(actlab.get("silu", beta=1.0)(x), F.silu(x))
        same(actlab.get("silu", beta=1.702)(x), actlab.get("gelu_sigmoid")(x))
        same(actlab.get("gelu")(x), F.gelu(x))
        # The same function; PyTorch's 1 + tanh u cancels in the left tail, where actlab's x sigmoid(2u)
        # (the definition, and its fused kernel) keeps relative precision: equal to a few eps absolute.
        torch.testing.assert_close(actlab.get("gelu_tanh")(x), F.gelu(x, approximate="tanh"),
                                   rtol=2 * EPS64, atol=4 * EPS64)
        same(actlab.get("relu6")(x), actlab.get("hardtanh", min_val=0, max_val=6)(x))
        same(actlab.get("relu6")(x), F.hardtanh(x, 0.0, 6.0))
        lr6 = actlab.get("leaky_relu6", negative_slope=0.2)(x)
        same(lr6, torch.where(x < 0, F.leaky_relu(x, 0.2), F.relu6(x)))
        same(actlab.get("rrelu", lower=0.1, upper=0.3).eval()(x), F.leaky_relu(x, 0.2))
    d = actlab.get("leaky_relu6", negative_slope=0.2).derivative(x)
    same(d, torch.where(x <= 0, torch.full_like(x, 0.2), ((x > 0) & (x < 6)).double()))


def test_softplus_default_differs_from_pytorch_only_above_threshold():
    x = torch.tensor([5.0, 15.0, 19.0, 20.5, 25.0, 40.0], dtype=torch.float64)
    ours, torchs = actlab.get("softplus")(x), F.softplus(x)
    assert torch.equal(ours[:3], torchs[:3])
    exact = torch.tensor([float(mp.log1p(mp.exp(mp.mpf(v)))) for v in x.tolist()], dtype=torch.float64)
    torch.testing.assert_close(ours, exact, rtol=EPS64, atol=0)
    assert (torchs[3:] == x[3:]).all() and (ours[3:5] > x[3:5]).all()


def test_selu_constants():
    with mp.workdps(60):
        c = mp.erfc(1 / mp.sqrt(2))
        e = mp.e
        alpha = -mp.sqrt(2 / mp.pi) / (c * mp.sqrt(e) - 1)
        scale = (1 - c * mp.sqrt(e)) * mp.sqrt(2 * mp.pi) * (
            2 * mp.erfc(mp.sqrt(2)) * e ** 2 + mp.pi * c ** 2 * e - 2 * (2 + mp.pi) * c * mp.sqrt(e) + mp.pi + 2
        ) ** (-mp.mpf(1) / 2)
    assert SELU_ALPHA == float(alpha) and SELU_SCALE == float(scale)
    one = torch.ones(1, dtype=torch.float64)
    assert F.selu(one).item() == SELU_SCALE
    assert F.selu(-1e3 * one).item() == pytest.approx(-SELU_SCALE * SELU_ALPHA, rel=EPS64)


# ---------------------------------------------------------------------------
# 8. softmax
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("params", DEFINITIONS["softmax"].param_settings(), ids=lambda p: f"T={p['temperature']}")
def test_softmax_jacobian_jvp_and_reference(params):
    sm = actlab.get("softmax", **params)
    t = params["temperature"]
    x = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 3
    jac = sm.jacobian(x)
    for row in range(3):
        auto = torch.autograd.functional.jacobian(lambda v: sm(v), x[row])
        torch.testing.assert_close(jac[row], auto, rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(sm.derivative(x)[row], torch.diagonal(auto), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(jac.sum(-1), torch.zeros(3, 5, dtype=torch.float64), rtol=0, atol=1e-15)
    v = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(sm.jvp(x, v), (jac @ v.unsqueeze(-1)).squeeze(-1), rtol=1e-13, atol=1e-15)
    ref = DEFINITIONS["softmax"].reference
    with mp.workdps(50):
        want = [[float(p) for p in ref([mp.mpf(v) for v in r], temperature=t, dim=-1)] for r in x.tolist()]
    torch.testing.assert_close(sm(x), torch.tensor(want, dtype=torch.float64), rtol=4 * EPS64, atol=0)


def test_softmax_large_logits_and_other_dim():
    sm = actlab.get("softmax")
    x = torch.tensor([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], dtype=torch.float64)
    y = sm(x)
    assert torch.isfinite(y).all() and torch.isfinite(sm.jacobian(x)).all()
    torch.testing.assert_close(y[0], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(y[1], torch.full((3,), 1 / 3, dtype=torch.float64))
    x = torch.randn(4, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    sm0 = actlab.get("softmax", dim=1)
    torch.testing.assert_close(sm0(x).sum(1), torch.ones(4, 2, dtype=torch.float64))
    jac = sm0.jacobian(x)
    assert jac.shape == (4, 2, 3, 3)
    auto = torch.autograd.functional.jacobian(lambda v: sm0(v)[1, :, 0], x)[:, 1, :, 0]
    torch.testing.assert_close(jac[1, 0], auto)


# ---------------------------------------------------------------------------
# 10. properties on random points
# ---------------------------------------------------------------------------
PROP = settings(max_examples=40, deadline=None, derandomize=True)


@case_param
@PROP
@given(t=st.floats(-30, 30, allow_nan=False))
def test_derivative_matches_central_difference(case, t):
    name, params = case
    kinks = DEFINITIONS[name].kinks_at(params)
    h = 1e-6 * max(1.0, abs(t))
    if any(abs(t - k) < 100 * h for k in kinks):
        return
    mod = module(case)
    x = torch.tensor([t - h, t + h], dtype=torch.float64)
    with torch.no_grad():
        lo, hi = mod(x).tolist()
    d = mod.derivative(torch.tensor([t], dtype=torch.float64)).item()
    assert (hi - lo) / (2 * h) == pytest.approx(d, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("case", [c for c in CASES if DEFINITIONS[c[0]].monotonic],
                         ids=[i for c, i in zip(CASES, CASE_IDS) if DEFINITIONS[c[0]].monotonic])
@PROP
@given(a=st.floats(-1e4, 1e4), b=st.floats(-1e4, 1e4))
def test_declared_monotonic_is_monotonic(case, a, b):
    lo, hi = min(a, b), max(a, b)
    with torch.no_grad():
        flo, fhi = module(case)(torch.tensor([lo, hi], dtype=torch.float64)).tolist()
    assert flo <= fhi + 4 * EPS64 * abs(fhi), (lo, hi, flo, fhi)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_keep_nan_passes_y_through_bit_for_bit_and_nan_where_x_is_nan(dtype):
    """definitions._keep_nan (y, NaN wherever x is NaN) as y * clamp(x, 2, 1): y's bits (-0, infinities, NaN)
    wherever x is not NaN, at x = 1 and 2 (clamp's bounds) too; NaN where x is NaN; no gradient reaches x
    through the factor (a constant 1), and y's gradient is g times the factor."""
    from actlab.catalog.definitions import _keep_nan

    inf, nan = math.inf, math.nan
    x = torch.tensor([nan, inf, -inf, 1.0, 2.0, 1.5, -0.0, 0.0, -3.0, nan], dtype=dtype, requires_grad=True)
    y = torch.tensor([2.0, -0.0, inf, -inf, nan, 0.0, -7.5, 3.0, -0.0, -1.0], dtype=dtype, requires_grad=True)
    out = _keep_nan(x, y)
    want = torch.where(torch.isnan(x), x, y).detach()
    assert out.dtype == dtype
    assert torch.equal(torch.isnan(out), torch.isnan(want))
    keep = ~torch.isnan(want)
    bits = {2: torch.int16, 4: torch.int32, 8: torch.int64}[dtype.itemsize]
    assert torch.equal(out.detach()[keep].view(bits), want[keep].view(bits))
    gx, gy = torch.autograd.grad(out, (x, y), torch.full_like(out.detach(), 3.0))
    assert torch.equal(gx, torch.zeros_like(gx))
    x_nan = torch.isnan(x.detach())
    assert torch.isnan(gy[x_nan]).all() and torch.equal(gy[~x_nan], torch.full_like(gy[~x_nan], 3.0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_leaky_relu6_derivative_is_branch_free_and_keeps_the_kink_convention(dtype):
    """Leaky ReLU6's f' from sign and clamp (no comparison or where, whose CPU kernels are not vectorised):
    a for x <= 0 (-0 and -inf included), 1 inside (0, 6), 0 from 6 on (+inf included), NaN for NaN."""
    import collections

    a = 0.2
    module = actlab.get("leaky_relu6", negative_slope=a)
    x = torch.tensor([-math.inf, -1.0, -0.0, 0.0, 1e-3, 3.0, 6.0, 6.5, math.inf, math.nan], dtype=dtype)
    want = torch.tensor([a, a, a, a, 1.0, 1.0, 0.0, 0.0, 0.0, math.nan], dtype=torch.float64).to(dtype)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        got = module.derivative(x)
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    ops = collections.Counter(e.name for e in prof.events())
    assert not {"aten::where", "aten::lt", "aten::le", "aten::gt", "aten::ge"} & set(ops), ops
