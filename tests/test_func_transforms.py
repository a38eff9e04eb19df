"""Every activation module works under torch.func (grad, vmap, jvp, jacrev) and agrees with plain autograd.

Plain autograd of the modules is verified against mpmath elsewhere
(test_catalog_verify.py); here the transforms, a different machinery, must
give the same numbers, on whatever path a module takes (native, analytic
Function, composite), including inputs at the extremes where the native
ops need the definition's formula.
"""
import pytest
import torch

import actlab

NAMES = [n for n in actlab.names() if not actlab.spec(n).stochastic]
# Finite values across the range, with the extremes the guards exist for (|x| near the dtype's maximum).
POINTS = torch.tensor([-3e300, -40.0, -2.5, -0.7, 0.0, 0.3, 1.7, 12.0, 1e8, 2e300], dtype=torch.float64)


def _module(name):
    return actlab.get(name).double()


def _x(name):
    return POINTS if not actlab.spec(name).vector or name == "softmax" else POINTS.reshape(5, 2).T.reshape(-1)


def _plain_jacobian(module, x):
    return torch.autograd.functional.jacobian(module, x)


@pytest.mark.parametrize("name", NAMES)
def test_jacrev_and_jvp_equal_plain_autograd(name):
    module, x = _module(name), _x(name)
    want = _plain_jacobian(module, x)
    got = torch.func.jacrev(module)(x)
    assert torch.equal(torch.isnan(got), torch.isnan(want))
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0.0, equal_nan=True)
    v = torch.linspace(-1.0, 1.0, x.numel(), dtype=torch.float64)
    _, tangent = torch.func.jvp(module, (x,), (v,))
    keep = torch.isfinite(want).all(dim=1)
    if module.path == "native" and not actlab.spec(name).vector:
        # At a kink PyTorch's own forward-mode and reverse-mode formulas may pick different one-sided slopes
        # (prelu at 0); the module hands native ops to PyTorch, so only the smooth points are compared.
        keep &= x != 0
    torch.testing.assert_close(tangent[keep], (want @ v)[keep], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_grad_and_vmap_equal_a_loop(name):
    module, x = _module(name), _x(name)
    rows = torch.stack([x, x.flip(0) * 0.5])
    batched = torch.func.vmap(module)(rows)
    looped = torch.stack([module(r) for r in rows])
    # Under vmap a guarded native op takes the definition's formula (it cannot read x to decide), which may
    # round differently from PyTorch's kernel by an ulp or two.
    # The tolerance is the definition's declared float64 precision against mpmath (test_catalog_verify.py).
    rtol, atol = actlab.spec(name).precision
    torch.testing.assert_close(batched, looped, rtol=max(4 * rtol, 8 * torch.finfo(torch.float64).eps),
                               atol=4 * atol + torch.finfo(torch.float64).tiny, equal_nan=True)
    grad = torch.func.grad(lambda t: module(t).sum())(x)
    leaf = x.clone().requires_grad_()
    module(leaf).sum().backward()
    torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=0.0, equal_nan=True)


def test_the_guarded_native_modules_take_the_formula_under_vmap():
    # gelu's native op returns NaN at -inf; under vmap the module cannot read x to decide, so it must use
    # the definition's formula: the limit 0, as outside vmap.
    gelu = actlab.get("gelu")
    x = torch.tensor([[-float("inf"), 0.0, float("inf")]])
    torch.testing.assert_close(torch.func.vmap(gelu)(x), torch.tensor([[0.0, 0.0, float("inf")]]))
    torch.testing.assert_close(gelu(x), torch.tensor([[0.0, 0.0, float("inf")]]))
