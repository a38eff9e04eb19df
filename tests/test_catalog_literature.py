"""The literature's activations (catalog/literature.py): facts the generic verification does not reach.

tests/test_catalog_verify.py checks every definition on a grid whose points are
mostly float32 numbers, where w0 x and x^2 happen to be exact in float64. Here
the sine and the Gaussian are checked at arbitrary float64 inputs (where a
plain sin(w0 * x) or exp(-x * x) loses digits) and at the largest finite
inputs, StarReLU's published constants are derived from the normal
distribution, its two parameters train, save and load, and the published
extrema come out of the computed properties. Every expected value is from
mpmath or a closed form.
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch

import actlab
from actlab.catalog.properties import compute

EPS64 = float(np.finfo(np.float64).eps)


def _uniform(n, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, dtype=torch.float64, generator=g)


def _errors(got, want):
    """|got - want| for float64 values against mpmath values."""
    return np.array([float(abs(mp.mpf(a) - w)) for a, w in zip(got.tolist(), want)])


@pytest.mark.parametrize("w0", [30.0, 1.0, 0.1, 7.3])
def test_sinusoid_is_exact_for_arbitrary_float64_inputs(w0):
    x = _uniform(300, -1e4, 1e4, seed=0)
    mod = actlab.get("sinusoid", w0=w0)
    with torch.no_grad(), mp.workdps(60):
        phase = [mp.mpf(w0) * mp.mpf(v) for v in x.tolist()]
        f_err = _errors(mod(x), [mp.sin(t) for t in phase])
        d_err = _errors(mod.derivative(x), [w0 * mp.cos(t) for t in phase])
    # Within an ulp or two of the result; sin(fl(w0 x)) is off by up to |w0 x| eps = 7e-12 here.
    assert f_err.max() <= 2 * EPS64 and d_err.max() <= 2 * EPS64 * w0, (f_err.max(), d_err.max())


@pytest.mark.parametrize("w0", [30.0, 1.0])
def test_sinusoid_far_out_and_at_the_largest_float64(w0):
    big = torch.finfo(torch.float64).max
    x = torch.tensor([big, -big, 1e307, 6e306, 1e300, -3e200, 1e20, 2e8], dtype=torch.float64)
    with torch.no_grad(), mp.workdps(60):
        y = actlab.get("sinusoid", w0=w0)(x)
        err = _errors(y, [mp.sin(mp.mpf(w0) * mp.mpf(v)) for v in x.tolist()])
    # Beyond the overflow of w0 x the angle is halved 9 times and doubled back: <= 2^9 ulps.
    assert err.max() <= 2 ** 9 * EPS64, err


def test_sinusoid_narrow_dtypes_are_rounded_once_from_the_exact_value():
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = _uniform(200, -100, 100, seed=1).to(dtype)
        with torch.no_grad(), mp.workdps(40):
            want = torch.tensor([float(mp.sin(30 * mp.mpf(v))) for v in x.double().tolist()]).to(dtype)
            assert torch.equal(actlab.get("sinusoid")(x), want), dtype


def test_gaussian_keeps_full_precision_where_x_squared_rounds():
    x = _uniform(300, 0.0, 26.0, seed=2)  # exp(-26^2) = 1e-294, still normal
    with torch.no_grad(), mp.workdps(50):
        want = [mp.exp(-mp.mpf(v) ** 2) for v in x.tolist()]
        rel = _errors(actlab.get("gaussian")(x), want) / np.array([float(w) for w in want])
        d_want = [-2 * mp.mpf(v) * mp.exp(-mp.mpf(v) ** 2) for v in x.tolist()]
        d_rel = _errors(actlab.get("gaussian").derivative(x), d_want) / np.abs([float(w) for w in d_want])
    # exp(-fl(x^2)) would be off by up to x^2 eps / 2 = 7.5e-14 relative at x = 26.
    assert rel.max() <= 2 * EPS64 and d_rel.max() <= 3 * EPS64, (rel.max(), d_rel.max())


def test_star_relu_defaults_standardise_a_standard_normal_input():
    """Yu et al. (2022): s = 1/sqrt(Var relu(z)^2), b = -s E relu(z)^2 for z ~ N(0, 1)."""
    spec = actlab.spec("star_relu")
    s, b = spec.defaults()["scale"], spec.defaults()["bias"]
    with mp.workdps(30):
        density = lambda t: mp.exp(-t * t / 2) / mp.sqrt(2 * mp.pi)  # noqa: E731
        f = lambda t: s * max(mp.mpf(0), t) ** 2 + b  # noqa: E731
        mean = mp.quad(lambda t: f(t) * density(t), [-mp.inf, 0, mp.inf])
        second = mp.quad(lambda t: f(t) ** 2 * density(t), [-mp.inf, 0, mp.inf])
    assert abs(mean) < 1e-15 and second - mean ** 2 == pytest.approx(1.0, abs=1e-15)
    # The paper prints them to four digits.
    assert (round(s, 4), round(b, 4)) == (0.8944, -0.4472)


def test_star_relu_learns_scale_and_bias_and_round_trips(tmp_path):
    act = actlab.get("star_relu", scale="learnable", bias="learnable")
    assert isinstance(act.scale, torch.nn.Parameter) and isinstance(act.bias, torch.nn.Parameter)
    x = torch.linspace(-2, 3, 11)
    act(x).sum().backward()
    # d/ds sum(s relu(x)^2 + b) = sum relu(x)^2; d/db = number of elements
    torch.testing.assert_close(act.scale.grad, (torch.relu(x) ** 2).sum().reshape(1))
    torch.testing.assert_close(act.bias.grad, torch.tensor([11.0]))
    torch.optim.SGD(act.parameters(), lr=0.01).step()
    torch.save(act.state_dict(), tmp_path / "star.pt")
    fresh = actlab.get("star_relu", scale="learnable", bias="learnable")
    fresh.load_state_dict(torch.load(tmp_path / "star.pt"))
    assert fresh.scale.item() == act.scale.item() != pytest.approx(2 / math.sqrt(5))
    torch.testing.assert_close(fresh(x), act(x), rtol=0, atol=0)
    assert fresh(torch.tensor(0.5)).shape == ()  # a scalar parameter keeps the input's shape


@pytest.mark.parametrize("name, x_min, f_min", [
    # ELiSH's left branch is (u^2 - u)/(1 + u), u = e^x: minimum at u = sqrt 2 - 1, value 2 sqrt 2 - 3.
    ("elish", math.log(math.sqrt(2) - 1), 2 * math.sqrt(2) - 3),
    # Roots of the derivative, found by mpmath from the formulas (not from actlab's code).
    ("serf", None, None), ("smish", None, None), ("tanhexp", None, None),
])
def test_minimum_of_the_non_monotonic_units(name, x_min, f_min):
    ref = actlab.spec(name).reference
    with mp.workdps(30):
        if x_min is None:
            root = mp.findroot(lambda t: mp.diff(ref, t), -1.0)
            x_min, f_min = float(root), float(ref(root))
    (ext,) = [e for e in compute(name).extrema if e.kind == "min"]
    assert ext.x == pytest.approx(x_min, abs=1e-9) and ext.value == pytest.approx(f_min, abs=1e-15)


def test_smish_slope_tends_to_three_fifths_and_bent_identity_to_half_and_three_halves():
    x = torch.tensor([-1e6, 1e6], dtype=torch.float64)
    assert actlab.get("smish").derivative(x).tolist() == pytest.approx([0.0, math.tanh(math.log(2))], abs=1e-15)
    assert math.tanh(math.log(2)) == pytest.approx(0.6, abs=1e-16)
    assert actlab.get("bent_identity").derivative(x).tolist() == pytest.approx([0.5, 1.5], abs=1e-12)
