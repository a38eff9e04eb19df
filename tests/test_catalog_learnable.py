"""Learnable families (APL, the Padé/rational unit): parameters train, save and load.

Gradients with respect to the coefficients are compared with closed forms
written here; training is checked on a slice of real MNIST (the embedded
mnist-small subset) and on fitting a known shape.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import actlab
from actlab.catalog import DEFINITIONS

LEARNABLE = ["apl", "rational"]


def _learned_names(name):
    return [p.name for p in DEFINITIONS[name].params if p.always_learned]


def _grid():
    # No point on a kink (0 and the hinges at -1 and 0), where the one-sided slopes differ.
    return torch.linspace(-3.05, 2.95, 61, dtype=torch.float64)


@pytest.mark.parametrize("name", LEARNABLE)
def test_coefficients_are_parameters_one_set_or_one_per_channel(name):
    act = actlab.get(name)
    names = _learned_names(name)
    assert [n for n, _ in act.named_parameters()] == names
    assert all(isinstance(getattr(act, n), nn.Parameter) and getattr(act, n).shape == (1,) for n in names)
    per_channel = actlab.get(name, num_parameters=3)
    assert all(getattr(per_channel, n).shape == (3,) for n in names)
    assert set(per_channel.state_dict()) == set(names)


def _apl_grads(x, a1, b1, a2, b2):
    """d f / d(a1, b1, a2, b2) for f = relu(x) + sum a_s relu(b_s - x)."""
    return {"a1": np.maximum(b1 - x, 0), "b1": a1 * (x < b1), "a2": np.maximum(b2 - x, 0), "b2": a2 * (x < b2)}


def _rational_grads(x, **c):
    """d f / d a_j = x^j / Q and d f / d b_k = -P sign(b_k) |x|^k / Q^2 for f = P / Q."""
    a = [c[f"a{j}"] for j in range(6)]
    b = [c[f"b{k}"] for k in range(1, 5)]
    p = sum(a[j] * x ** j for j in range(6))
    q = 1 + sum(abs(b[k - 1]) * np.abs(x) ** k for k in range(1, 5))
    out = {f"a{j}": x ** j / q for j in range(6)}
    out.update({f"b{k}": -p * np.sign(b[k - 1]) * np.abs(x) ** k / q ** 2 for k in range(1, 5)})
    return out


@pytest.mark.parametrize("name", LEARNABLE)
def test_parameter_gradients_match_closed_forms(name):
    act = actlab.get(name).double()
    x = _grid()
    act(x).sum().backward()
    values = {n: getattr(act, n).item() for n in _learned_names(name)}
    closed = (_apl_grads if name == "apl" else _rational_grads)(x.numpy(), **values)
    for n in _learned_names(name):
        torch.testing.assert_close(getattr(act, n).grad, torch.tensor([closed[n].sum()], dtype=torch.float64),
                                   rtol=1e-12, atol=1e-12, msg=lambda m: f"{name}.{n}: {m}")


@pytest.mark.parametrize("name, target", [("apl", torch.abs), ("rational", torch.tanh)])
def test_the_shape_trains_towards_a_target(name, target):
    """|x| is an APL exactly (a1 = 1, b1 = 0); tanh is close to a rational function."""
    act = actlab.get(name)
    x = torch.linspace(-3, 3, 301)
    opt = torch.optim.Adam(act.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.mse_loss(act(x), target(x))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


@pytest.mark.parametrize("name", LEARNABLE)
def test_trains_in_a_network_on_real_mnist(name):
    from actlab.data import load_dataset, split

    s = split(load_dataset("mnist-small", progress=False), val_fraction=0.1, seed=0, train_limit=512)
    torch.manual_seed(0)
    act = actlab.get(name, num_parameters=32)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.BatchNorm1d(32), act, nn.Linear(32, 10))
    before = {n: p.detach().clone() for n, p in act.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_on(x, y):
        return F.cross_entropy(model(x), y)

    with torch.no_grad():
        start = loss_on(s.train_x, s.train_y).item()
    for step in range(40):
        i = torch.arange(step * 64, step * 64 + 64) % len(s.train_y)
        opt.zero_grad()
        loss_on(s.train_x[i], s.train_y[i]).backward()
        opt.step()
    with torch.no_grad():
        end = loss_on(s.train_x, s.train_y).item()
    assert end < 0.5 * start, (start, end)
    for n, p in act.named_parameters():
        assert not torch.equal(p.detach(), before[n]), f"{name}.{n} did not move"


@pytest.mark.parametrize("name", LEARNABLE)
def test_state_dict_round_trip_after_training(name, tmp_path):
    act = actlab.get(name, num_parameters=3)
    x = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1)) * 2
    opt = torch.optim.SGD(act.parameters(), lr=0.1)
    act(x).pow(2).mean().backward()
    opt.step()
    torch.save(act.state_dict(), tmp_path / f"{name}.pt")
    fresh = actlab.get(name, num_parameters=3)
    assert not torch.equal(fresh(x), act(x))
    fresh.load_state_dict(torch.load(tmp_path / f"{name}.pt"))
    torch.testing.assert_close(fresh(x), act(x), rtol=0, atol=0)
    # The analytic derivative uses the trained coefficients too.
    xd = x.double().requires_grad_()
    (auto,) = torch.autograd.grad(fresh.double()(xd).sum(), xd)
    torch.testing.assert_close(fresh.derivative(xd.detach()), auto, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", LEARNABLE)
def test_per_channel_coefficients_only_see_their_channel(name):
    act = actlab.get(name, num_parameters=3)
    x = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(2)) * 2
    x[:, 1] = 0.5  # channel 1: every coefficient's gradient is computed from this constant alone
    act(x).sum().backward()
    single = actlab.get(name)
    single(torch.full((2 * 4,), 0.5)).sum().backward()
    for n in _learned_names(name):
        torch.testing.assert_close(getattr(act, n).grad[1], getattr(single, n).grad[0])


def test_rational_default_approximates_leaky_relu():
    """The default coefficients fit leaky ReLU (slope 0.01) on [-3, 3], as the paper's init does."""
    x = torch.linspace(-3, 3, 6001, dtype=torch.float64)
    with torch.no_grad():
        err = (actlab.get("rational").double()(x) - F.leaky_relu(x, 0.01)).abs().max().item()
    assert err < 0.03


@pytest.mark.parametrize("name", LEARNABLE)
def test_half_precision_input_keeps_its_dtype(name):
    act = actlab.get(name)
    for dtype in (torch.float16, torch.bfloat16):
        x = torch.linspace(-4, 4, 33).to(dtype).requires_grad_()
        y = act(x)
        assert y.dtype == dtype
        y.sum().backward()
        assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()
        torch.testing.assert_close(y.double(), act(x.detach().double()).detach(),
                                   rtol=4 * float(torch.finfo(dtype).eps), atol=4 * float(torch.finfo(dtype).eps))
