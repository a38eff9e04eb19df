"""Vector activations (softmax, softmin, log_softmax, sparsemax): values, Jacobians, JVPs.

Each Jacobian is checked against ``torch.autograd.functional.jacobian`` of the
module, each JVP against J v, ``derivative`` against J's diagonal; values
against mpmath closed forms written here (not the definitions' own
references), and sparsemax against a projection onto the simplex computed by
sorting in NumPy, plus the optimality conditions that define that projection.
"""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch

import actlab
from actlab.catalog import DEFINITIONS

EPS64 = float(np.finfo(np.float64).eps)
VECTOR = [n for n in actlab.names() if DEFINITIONS[n].vector and not DEFINITIONS[n].gated]
CASES = [(n, p) for n in VECTOR for p in DEFINITIONS[n].param_settings()]
IDS = [n + "".join(f":{k}={v}" for k, v in p.items() if v != DEFINITIONS[n].param(k).default) for n, p in CASES]


def _rows(seed, shape=(3, 5), scale=3.0):
    return torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * scale


def test_the_vector_activations_are_the_ones_this_file_covers():
    assert {"softmax", "softmin", "log_softmax", "sparsemax"} <= set(VECTOR)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_jacobian_jvp_and_derivative_agree_with_autograd(case):
    name, params = case
    act = actlab.get(name, **params)
    x = _rows(3)
    jac = act.jacobian(x)
    assert jac.shape == (3, 5, 5)
    v = _rows(4, scale=1.0)
    for row in range(3):
        auto = torch.autograd.functional.jacobian(lambda t: act(t), x[row])
        torch.testing.assert_close(jac[row], auto, rtol=1e-13, atol=1e-15)
        torch.testing.assert_close(act.derivative(x)[row], torch.diagonal(auto), rtol=1e-13, atol=1e-15)
        _, auto_jvp = torch.autograd.functional.jvp(lambda t: act(t), x[row], v[row])
        torch.testing.assert_close(act.jvp(x, v)[row], auto_jvp, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", VECTOR)
def test_other_dim_moves_the_jacobian_axes_last(name):
    act = actlab.get(name, dim=1)
    x = _rows(5, shape=(4, 3, 2))
    jac = act.jacobian(x)
    assert jac.shape == (4, 2, 3, 3)
    auto = torch.autograd.functional.jacobian(lambda t: act(t)[1, :, 0], x)[:, 1, :, 0]
    torch.testing.assert_close(jac[1, 0], auto, rtol=1e-13, atol=1e-15)
    v = _rows(6, shape=(4, 3, 2), scale=1.0)
    want = (jac @ torch.movedim(v, 1, -1).unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(act.jvp(x, v), torch.movedim(want, -1, 1), rtol=1e-13, atol=1e-15)


def _mp_rows(x, fn):
    with mp.workdps(50):
        return torch.tensor([[float(v) for v in fn([mp.mpf(t) for t in row])] for row in x.tolist()],
                            dtype=torch.float64)


def test_softmin_and_log_softmax_match_mpmath():
    x = _rows(7)
    x[0] = torch.tensor([700.0, -700.0, 0.0, 1e-3, 30.0])  # very unequal scores: tails must keep precision

    def softmin(row):
        total = mp.fsum(mp.exp(-t) for t in row)
        return [mp.exp(-t) / total for t in row]

    def log_softmax(row):
        lse = mp.log(mp.fsum(mp.exp(t) for t in row))
        return [t - lse for t in row]

    with torch.no_grad():
        torch.testing.assert_close(actlab.get("softmin")(x), _mp_rows(x, softmin), rtol=4 * EPS64, atol=0)
        got, want = actlab.get("log_softmax")(x), _mp_rows(x, log_softmax)
    # x_i - logsumexp(x) cancels where x_i is the largest score: the error is relative to |x_i|.
    assert ((got - want).abs() <= 4 * EPS64 * (want.abs() + x.abs())).all(), (got - want)
    # 1 - softmax_i keeps its precision when softmax_i is close to 1 (written as -expm1);
    d = actlab.get("log_softmax").derivative(x)
    def one_minus_softmax(row):  # the other entries' share, which does not cancel
        total = mp.fsum(mp.exp(t) for t in row)
        return [mp.fsum(mp.exp(t) for j, t in enumerate(row) if j != i) / total for i in range(len(row))]

    want = _mp_rows(x, one_minus_softmax)
    # It inherits log_softmax's error eps |x_i| as an absolute error.
    assert ((d - want).abs() <= 4 * EPS64 * (want.abs() + x.abs())).all(), (d - want)
    # The score 700 has softmax 1 - 2e-291: 1 - softmax would round to 0, -expm1 keeps all digits.
    assert 0 < want[0, 0] < 1e-290 and d[0, 0].item() == pytest.approx(want[0, 0].item(), rel=1e-14)


def test_log_softmax_large_logits_and_softmin_is_softmax_of_minus_x():
    x = torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(actlab.get("log_softmax")(x), torch.tensor([[0.0, -1e4, -2e4]], dtype=torch.float64))
        y = _rows(8)
        torch.testing.assert_close(actlab.get("softmin")(y), actlab.get("softmax")(-y), rtol=0, atol=0)
        torch.testing.assert_close(actlab.get("softmin")(y).sum(-1), torch.ones(3, dtype=torch.float64))


def _numpy_sparsemax(z: np.ndarray) -> np.ndarray:
    """Projection of each row onto the probability simplex (Held, Wolfe, Crowder 1974; Martins &
    Astudillo 2016, Algorithm 1), written independently of actlab with NumPy."""
    out = np.empty_like(z)
    for i, row in enumerate(z):
        u = np.sort(row)[::-1]
        css = np.cumsum(u)
        rho = max(j for j in range(1, len(u) + 1) if u[j - 1] - (css[j - 1] - 1) / j > 0)
        theta = (css[rho - 1] - 1) / rho
        out[i] = np.maximum(row - theta, 0)
    return out


def test_sparsemax_is_the_projection_onto_the_simplex():
    x = _rows(9, shape=(50, 7), scale=2.0)
    with torch.no_grad():
        p = actlab.get("sparsemax")(x)
    torch.testing.assert_close(p, torch.tensor(_numpy_sparsemax(x.numpy())), rtol=0, atol=4 * EPS64)
    # Its defining properties: a distribution, some exact zeros, and optimality of the projection
    # (x_i - p_i is the same tau on the support, and x_i <= tau off it).
    assert (p >= 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(50, dtype=torch.float64), rtol=0, atol=8 * EPS64)
    assert (p == 0).any(dim=-1).float().mean() > 0.5
    for row_x, row_p in zip(x, p):
        on = row_p > 0
        tau = (row_x[on] - row_p[on])
        torch.testing.assert_close(tau, tau.mean().expand_as(tau), rtol=0, atol=1e-14)
        assert (row_x[~on] <= tau.mean() + 1e-14).all()


def test_sparsemax_known_values():
    sm = actlab.get("sparsemax")
    with torch.no_grad():
        # Two entries: the first component is the ramp clip((t + 1) / 2, 0, 1).
        t = torch.linspace(-2, 2, 81, dtype=torch.float64)
        pair = sm(torch.stack([t, torch.zeros_like(t)], dim=-1))[:, 0]
        torch.testing.assert_close(pair, torch.clamp((t + 1) / 2, 0, 1), rtol=0, atol=EPS64)
        # Equal scores: uniform; one dominant score: one-hot (softmax never gives exact zeros).
        torch.testing.assert_close(sm(torch.full((1, 4), 3.0, dtype=torch.float64)),
                                   torch.full((1, 4), 0.25, dtype=torch.float64))
        y = sm(torch.tensor([[1e4, 0.0, -1e4]], dtype=torch.float64))
        assert y.tolist() == [[1.0, 0.0, 0.0]]
        # By hand: z = (1.5, 1, 0.2); the support is the top two (1 + 2 * 1 > 2.5, 1 + 3 * 0.2 < 2.7),
        # tau = (2.5 - 1) / 2 = 0.75, p = (0.75, 0.25, 0).
        torch.testing.assert_close(sm(torch.tensor([1.5, 1.0, 0.2], dtype=torch.float64)),
                                   torch.tensor([0.75, 0.25, 0.0], dtype=torch.float64))


def test_sparsemax_jacobian_is_the_support_projection():
    """J = diag(s) - s s^T / |S|: symmetric, rows sum to 0, zero rows off the support."""
    sm = actlab.get("sparsemax")
    x = _rows(10, shape=(20, 6))
    jac = sm.jacobian(x)
    with torch.no_grad():
        s = (sm(x) > 0).double()
    torch.testing.assert_close(jac, jac.transpose(-1, -2), rtol=0, atol=0)
    torch.testing.assert_close(jac.sum(-1), torch.zeros(20, 6, dtype=torch.float64), rtol=0, atol=1e-15)
    assert (jac[s == 0] == 0).all()
    n = s.sum(-1, keepdim=True)
    torch.testing.assert_close(torch.diagonal(jac, dim1=-2, dim2=-1), s * (1 - 1 / n))


@pytest.mark.parametrize("name", VECTOR)
def test_dtypes_and_nan_rows(name):
    act = actlab.get(name)
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = _rows(11).to(dtype)
        with torch.no_grad():
            y = act(x)
        assert y.dtype == dtype and act.derivative(x).dtype == dtype and act.jvp(x, x).dtype == dtype
        ref = act(x.double()).detach()
        tol = 8 * float(torch.finfo(dtype).eps)
        torch.testing.assert_close(y.double(), ref, rtol=tol, atol=tol)
    x = _rows(12)
    x[1, 2] = math.nan
    with torch.no_grad():
        y = act(x)
    assert torch.isnan(y[1]).all() and torch.isfinite(y[[0, 2]]).all()
    assert torch.isnan(act.derivative(x)[1]).all()


def test_softmax_jacobian_still_matches_its_closed_form():
    """The Jacobian moved from the module into the definition; the formula is unchanged."""
    sm = actlab.get("softmax", temperature=2.0)
    x = _rows(13)
    y = torch.softmax(x / 2.0, dim=-1)
    want = (torch.diag_embed(y) - y.unsqueeze(-1) * y.unsqueeze(-2)) / 2.0
    torch.testing.assert_close(sm.jacobian(x), want, rtol=0, atol=0)


def test_softmax_at_the_default_temperature_makes_no_extra_pass():
    """x / 1 is x to the bit, so at T = 1 the module calls softmax on x itself: no division op, hence no
    extra pass over x (and no extra tensor) per call; at another T the division runs. Same values either way."""
    x = torch.randn(64, 10, dtype=torch.float64)

    def ops_run(module):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            y = module(x)
        return {e.name for e in prof.events()}, y

    names, y = ops_run(actlab.get("softmax"))
    assert "aten::div" not in names and any("softmax" in n for n in names), names
    torch.testing.assert_close(y, torch.softmax(x, dim=-1), rtol=0, atol=0)
    names, y = ops_run(actlab.get("softmax", temperature=0.5))
    assert "aten::div" in names, names
    torch.testing.assert_close(y, torch.softmax(x / 0.5, dim=-1), rtol=0, atol=0)
