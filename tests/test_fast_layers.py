"""actlab.models.fast: every fast layer computes what the plain PyTorch layers compute."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import actlab
from actlab.models import ByteDropout, PoolThenActivation, ToContiguous, accelerate, build_model, is_non_decreasing

NON_DECREASING = ["relu", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "softplus", "hardtanh", "snake",
                  "hardshrink"]


@pytest.mark.parametrize("name", NON_DECREASING)
def test_pooling_before_a_non_decreasing_activation_gives_the_same_values_and_gradients(name):
    torch.manual_seed(0)
    x = (3 * torch.randn(4, 5, 8, 10, dtype=torch.float64)).requires_grad_()
    act = actlab.get(name)
    plain = F.max_pool2d(act(x), 2)
    fast = PoolThenActivation(nn.MaxPool2d(2), act)(x)
    assert torch.equal(plain, fast)
    g = torch.randn_like(plain)
    assert torch.equal(torch.autograd.grad(plain, x, g)[0], torch.autograd.grad(fast, x, g)[0])


def test_tied_windows_route_the_gradient_like_the_plain_order():
    """Blank image regions give equal values in a whole window (ties); ReLU must send the gradient the same way."""
    x = torch.tensor([[[[0.5, 0.5, -1.0, -2.0], [0.5, 0.5, -3.0, -1.0],
                        [0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 2.0]]]], dtype=torch.float64, requires_grad=True)
    relu = actlab.get("relu")
    g = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    plain = torch.autograd.grad(F.max_pool2d(relu(x), 2), x, g)[0]
    fast = torch.autograd.grad(PoolThenActivation(nn.MaxPool2d(2), relu)(x), x, g)[0]
    assert torch.equal(plain, fast)
    assert plain[0, 0, 0, 0] == 1.0 and plain[0, 0, 3, 2] == 0.0  # first of the ties, and the first max


def test_only_non_decreasing_deterministic_parameter_free_activations_commute_with_pooling():
    assert all(is_non_decreasing(actlab.get(n)) for n in NON_DECREASING)
    assert not any(is_non_decreasing(actlab.get(n)) for n in ["gelu", "silu", "mish", "hardswish", "prelu", "rrelu"])
    assert is_non_decreasing(nn.ReLU()) and not is_non_decreasing(nn.GELU()) and not is_non_decreasing(nn.PReLU())


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_byte_dropout_drops_at_rate_p_and_scales_the_rest_exactly(p):
    torch.manual_seed(1)
    x = torch.rand(1000, 1000, dtype=torch.float64) + 1.0
    layer = ByteDropout(p).train()
    y = layer(x)
    dropped = (y == 0).double().mean().item()
    assert abs(dropped - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5
    kept = y != 0
    assert torch.equal(y[kept], x[kept] * (1 / (1 - p)))
    # neighbouring elements (bytes of one 64-bit draw) are independent
    a, b = kept[:, :-1].double().flatten(), kept[:, 1:].double().flatten()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.01


def test_byte_dropout_gradient_is_its_mask_and_eval_mode_is_the_identity():
    torch.manual_seed(2)
    x = torch.randn(64, 33, dtype=torch.float64, requires_grad=True)
    layer = ByteDropout(0.5)
    y = layer(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(grad, (y != 0).double() * 2.0)
    assert torch.equal(layer.eval()(x), x)


def test_byte_dropout_is_deterministic_per_seed_and_independent_across_seeds():
    def mask(seed):
        torch.manual_seed(seed)
        return ByteDropout(0.25)(torch.ones(200, 500)) != 0
    assert torch.equal(mask(5), mask(5))
    a, b = mask(5).double().flatten(), mask(6).double().flatten()
    assert not torch.equal(a, b) and abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.02


def test_other_rates_fall_back_to_pytorch_dropout():
    x = torch.randn(50, 50)
    torch.manual_seed(3)
    expected = F.dropout(x, 0.2, True)
    torch.manual_seed(3)
    assert torch.equal(ByteDropout(0.2)(x), expected)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_accelerated_seed_cnn_equals_the_plain_model_in_values_and_gradients(activation):
    torch.manual_seed(4)
    x = torch.rand(6, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(0, 10, (6,))
    plain = build_model("cnn", activation, seed=0).double().eval()
    other = build_model("cnn", activation, seed=0).double()
    fast = accelerate(other).eval()
    kinds = [type(m).__name__ for m in fast]
    # GELU is not monotonic; either way the tensor leaves channels_last once the spatial part is done
    middle = ["PoolThenActivation"] if activation == "relu" else ["GELU", "MaxPool2d", "ToContiguous"]
    assert kinds[2:] == ["Conv2d", *middle, "ByteDropout", "Flatten", "Linear", kinds[-3], "ByteDropout", "Linear"]
    if activation == "relu":
        assert fast[3].to_contiguous
    out_plain, out_fast = plain(x), fast(x)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-12, atol=1e-12)
    grads_plain = torch.autograd.grad(F.cross_entropy(out_plain, y), list(plain.parameters()))
    grads_fast = torch.autograd.grad(F.cross_entropy(out_fast, y), list(other.parameters()))
    for a, b in zip(grads_fast, grads_plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_accelerate_shares_parameters_and_leaves_other_models_alone():
    model = build_model("mlp", "relu", seed=0)
    fast = accelerate(model)
    assert [id(p) for p in fast.parameters()] == [id(p) for p in model.parameters()]
    custom = nn.ModuleDict({"a": nn.Linear(2, 2)})
    assert accelerate(custom) is custom


def test_the_elementwise_tail_runs_in_one_layout_in_both_directions():
    """After the spatial part the accelerated CNN works row-major (so Flatten is a view), while the gradient
    handed back into the pooling/convolution is channels_last again (mixed layouts take PyTorch's slow
    strided path: ~20x for threshold_backward)."""
    fast = accelerate(build_model("cnn", "relu", seed=0)).train()
    seen = {}
    fast[3].act.register_forward_hook(lambda m, i, o: seen.update(act_in=i[0]))
    fast[3].pool.register_full_backward_hook(lambda m, gi, go: seen.update(pool_grad=go[0]))
    x = torch.rand(4, 1, 28, 28)
    fast(x).sum().backward()
    assert seen["act_in"].is_contiguous()
    assert seen["pool_grad"].is_contiguous(memory_format=torch.channels_last)
    assert not seen["pool_grad"].is_contiguous()


def test_to_contiguous_is_the_identity_with_a_gradient_in_the_input_layout():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = ToContiguous()(x)
    assert y.is_contiguous() and torch.equal(y, x)
    g = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    (grad,) = torch.autograd.grad(y, x, g)
    assert torch.equal(grad, g) and grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(ToContiguous(), (x,))
    plain = torch.randn(3, 4, requires_grad=True)  # already row-major: returned as it is
    assert ToContiguous()(plain).data_ptr() == plain.data_ptr()


def test_byte_dropout_mask_follows_a_channels_last_input():
    torch.manual_seed(0)
    x = torch.ones(8, 16, 6, 6).contiguous(memory_format=torch.channels_last)
    out = ByteDropout(0.25)(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    kept = (out != 0).double().mean().item()
    assert abs(kept - 0.75) < 0.03
    assert set(out.unique().tolist()) <= {0.0, torch.tensor(1 / 0.75).item()}


def test_a_flatten_right_after_pooling_also_gets_channels_last_gradients_back():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 3))
    plain = copy.deepcopy(model).double()
    fast = accelerate(model.double())
    assert [type(m).__name__ for m in fast] == ["Conv2d", "PoolThenActivation", "Flatten", "Linear"]
    assert fast[1].to_contiguous
    other = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 3))
    fast_other = accelerate(other)
    assert [type(m).__name__ for m in fast_other] == ["Conv2d", "MaxPool2d", "ToContiguous", "Flatten", "Linear"]
    seen = {}
    fast_other[1].register_full_backward_hook(lambda m, gi, go: seen.update(grad=go[0]))
    fast_other(torch.rand(2, 1, 28, 28)).sum().backward()
    assert seen["grad"].is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(fast(x), plain(x), rtol=1e-12, atol=1e-12)
