"""actlab.diagnose on models it did not build: torch's own modules and actlab's."""
import math

import pytest
import torch
from torch import nn

import actlab
from actlab.catalog import DEFINITIONS
from actlab.catalog.torch_map import TORCH_CLASSES, is_elementwise
from actlab.diagnose import Diagnoser, diagnose, epoch_summary
from actlab.diagnose.derivatives import derivative_fn

# every elementwise PyTorch class the catalog maps (RReLU in evaluation mode, its deterministic form)
ELEMENTWISE_TORCH = sorted((c for c, n in TORCH_CLASSES.items() if is_elementwise(DEFINITIONS[n])),
                           key=lambda c: c.__name__)
REQUIRED_ARGS = {nn.Threshold: (0.5, -1.0)}  # the one class without defaults: threshold, value


@pytest.fixture(scope="module")
def mnist():
    from actlab.data import load_dataset

    ds = load_dataset("mnist-small", progress=False)
    return ds.train_images[:512].reshape(512, -1).float() / 255, ds.train_labels[:512]


def train(model, x, y, steps=4, opt=None):
    for i in range(steps):
        if opt:
            opt.zero_grad()
        batch = slice(128 * i % len(x), 128 * i % len(x) + 128)
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        if opt:
            opt.step()


def test_module_is_callable_and_same_function():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    import actlab.diagnose as module

    assert actlab.diagnose is module
    with actlab.diagnose(model) as d:
        assert isinstance(d, Diagnoser)
    assert isinstance(diagnose(model), Diagnoser)


def test_torch_relu_mlp_with_optimizer(mnist):
    x, y = mnist
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with actlab.diagnose(model, optimizer=opt) as d:
        train(model, x, y, steps=4, opt=opt)
    rows = d.table()
    assert [(r["name"], r["activation"], r["type"]) for r in rows] == [
        ("0", "1", "Linear+ReLU"), ("2", "3", "Linear+ReLU"), ("4", None, "Linear")]
    assert d.steps == 4
    for r in rows:
        assert r["grad_norm_w"] > 0 and r["grad_norm_b"] > 0
        assert 0 < r["update_ratio"] < 1
    # ReLU outputs are non-negative; a fresh He-like layer leaves about half the elements inactive
    assert rows[0]["act_mean"] > 0 and rows[0]["act_var"] > 0
    assert 0.2 < rows[0]["frac_saturated"] < 0.8
    assert rows[2]["act_mean"] is None and rows[2]["frac_dead"] is None
    # update ratio really is |W_after - W_before| / |W_before| of the last step
    before = model[0].weight.detach().clone()
    with actlab.diagnose(model, optimizer=opt) as d2:
        train(model, x, y, steps=1, opt=opt)
    expected = float((model[0].weight.detach() - before).norm() / before.norm())
    assert d2.table()[0]["update_ratio"] == pytest.approx(expected, rel=1e-5)


def test_hooks_removed_on_exit(mnist):
    x, y = mnist
    model = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))
    with actlab.diagnose(model) as d:
        train(model, x, y, steps=1)
    before = d.table()
    train(model, x, y, steps=2)
    assert d.table() == before and d.steps == 1
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_no_optimizer_means_no_update_ratio(mnist):
    x, y = mnist
    model = nn.Sequential(nn.Linear(784, 16), nn.Tanh(), nn.Linear(16, 10))
    with actlab.diagnose(model) as d:
        train(model, x, y, steps=2)
    assert all(r["update_ratio"] is None for r in d.table())


def test_dead_units_counted_over_all_samples(mnist):
    x, _ = mnist
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(784, 20), nn.ReLU(), nn.Linear(20, 10), actlab.get("relu"))
    with torch.no_grad():
        model[0].bias[:3] = -1e4  # three units that can never fire
        model[0].bias[3:] = 1e4   # the rest always fire
    with diagnose(model) as d, torch.no_grad():
        for start in range(0, len(x), 100):
            model(x[start:start + 100])
    assert d.table()[0]["frac_dead"] == pytest.approx(3 / 20)
    assert d.table()[0]["frac_saturated"] == pytest.approx(3 / 20)


def test_unit_fires_once_is_not_dead():
    model = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    with diagnose(model) as d, torch.no_grad():
        model(-torch.ones(50, 1))
        assert d.table()[0]["frac_dead"] == 1.0
        model(torch.tensor([[2.0]]))
    assert d.table()[0]["frac_dead"] == 0.0


def test_actlab_sigmoid_saturation_and_pooled_moments(mnist):
    x, _ = mnist
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(784, 32), actlab.get("sigmoid"))
    with diagnose(model, sample_rows=None) as d, torch.no_grad():
        outs = [model(x[i:i + 128]) for i in range(0, 512, 128)]
    allout = torch.cat(outs)
    row = d.table()[0]
    assert row["act_mean"] == pytest.approx(float(allout.mean()), rel=1e-5)
    assert row["act_var"] == pytest.approx(float(allout.var(correction=0)), rel=1e-4)
    assert row["frac_saturated"] < 0.01
    with torch.no_grad():
        model[0].weight.mul_(1000)
    with diagnose(model) as big, torch.no_grad():
        model(x)
    assert big.table()[0]["frac_saturated"] > 0.9  # sigma'(z) < 1e-3 once |z| > ~7
    with diagnose(model, sample_rows=16) as sampled, torch.no_grad():
        model(x)
    assert sampled.table()[0]["act_mean"] == pytest.approx(float(model(x[:16]).detach().mean()), rel=1e-5)


def test_conv_channels_and_shared_activation(mnist):
    x, _ = mnist
    images = x[:64].reshape(64, 1, 28, 28)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2, self.act = nn.Conv2d(1, 4, 3), nn.Conv2d(4, 6, 3), nn.ReLU()

        def forward(self, t):
            return self.act(self.c2(self.act(self.c1(t))))

    net = Net()
    with torch.no_grad():
        net.c2.bias[0] = -1e4  # channel 0 of the second conv is dead everywhere
        net.c2.bias[1:] = 1e4
    with diagnose(net) as d, torch.no_grad():
        net(images)
    rows = {r["name"]: r for r in d.table()}
    assert rows["c1"]["activation"] == "act" and rows["c2"]["activation"] == "act#2"
    assert rows["c2"]["frac_dead"] == pytest.approx(1 / 6)


def test_epoch_summary_resets(mnist):
    x, y = mnist
    model = nn.Sequential(nn.Linear(784, 16), nn.ELU(), nn.Linear(16, 10))
    with diagnose(model) as d:
        train(model, x, y, steps=2)
        first = epoch_summary(d)
        assert first[0]["layer"] == "0" and first[0]["grad_norm_w"] > 0 and "update_ratio" not in first[0]
        assert d.steps == 0 and d.table()[0]["grad_norm_w"] is None
        train(model, x, y, steps=1)
        assert d.steps == 1


def test_plot_one_line_per_layer(tmp_path, mnist):
    x, y = mnist
    model = nn.Sequential(nn.Linear(784, 16), nn.Sigmoid(), nn.Linear(16, 10))
    with diagnose(model) as d:
        train(model, x, y, steps=3)
    fig = d.plot("grad_norm", path=tmp_path / "g.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.lines) == 2 and len(ax.lines[0].get_xdata()) == 3
    assert (tmp_path / "g.png").stat().st_size > 0
    with pytest.raises(ValueError, match="unknown metric"):
        d.plot("speed")


@pytest.mark.parametrize("cls", ELEMENTWISE_TORCH, ids=lambda c: c.__name__)
def test_torch_activation_derivatives_match_autograd(cls):
    module = cls(*REQUIRED_ARGS.get(cls, ())).double().eval()
    z = torch.linspace(-8, 8, 401, dtype=torch.float64).reshape(1, -1).requires_grad_(True)
    a = module(z)
    (auto,) = torch.autograd.grad(a.sum(), z)
    with torch.no_grad():
        d = derivative_fn(module)(z.detach(), a.detach()).to(torch.float64)
    keep = torch.ones_like(z, dtype=torch.bool)
    for kink in (-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0):  # one-sided choices at kinks may differ
        keep &= (z - kink).abs() > 1e-6
    assert torch.allclose(d[keep], auto[keep], atol=1e-6), cls.__name__
    assert math.isfinite(float(d.sum()))
