"""actlab.advise on real MNIST batches: deep tanh at bad inits, deep ReLU at PyTorch's default, the seed CNN.

Expected numbers come from closed forms (tanh at q* = 0: chi_1 = sigma_w^2;
ReLU: chi_1 = sigma_w^2 / 2, critical gain sqrt(2); tanh's critical gain 1 at
sigma_b^2 = 0) or from scipy quadrature written here, never from actlab.theory.
"""
import json
import math

import pytest
import torch
from scipy import integrate, optimize
from torch import nn

import actlab
from actlab.data import load_dataset, split
from actlab.models import build_model
from paths import MNIST_DIR


@pytest.fixture(scope="module")
def batch():
    s = split(load_dataset("mnist", data_dir=MNIST_DIR), val_fraction=0.1, seed=0, train_limit=500)
    return s.train_x[:64], s.train_y[:64]


def gaussian_mean(f):
    return integrate.quad(lambda z: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), -12, 12, limit=200)[0]


def tanh_chi1(sigma_w2):
    """chi_1 of tanh at sigma_b^2 = 0 by scipy quadrature: q* from q = sigma_w2 E[tanh(sqrt(q) z)^2]."""
    q = optimize.brentq(lambda q: sigma_w2 * gaussian_mean(lambda z: math.tanh(math.sqrt(q) * z) ** 2) - q, 1e-3, 50)
    return sigma_w2 * gaussian_mean(lambda z: 1 / math.cosh(math.sqrt(q) * z) ** 4)


def tanh_mlp(sigma_w2, depth=16, width=128, seed=0):
    model = build_model("mlp", "tanh", depth=depth, width=width, dropout=False, init="pytorch", seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0, math.sqrt(sigma_w2 / layer.in_features), generator=generator)
                layer.bias.zero_()
    return model


def topics(advice):
    return [r.topic for r in advice.recommendations]


def test_deep_tanh_in_the_chaotic_phase_is_flagged_and_the_critical_gain_fixes_it(batch):
    model = tanh_mlp(3.0)
    advice = actlab.advise(model, batch, steps=5)
    (chain,) = advice.chains
    assert chain.depth == 15 and chain.activation == "tanh"
    assert chain.chi1 == pytest.approx(tanh_chi1(chain.sigma_w2), rel=1e-6)  # theory at the measured init
    assert chain.chi1_measured == pytest.approx(chain.chi1, rel=0.1)  # measurement agrees with it
    (rec,) = [r for r in advice.recommendations if r.topic == "init"]
    assert rec.values["gain"] == pytest.approx(1.0, abs=1e-9)
    assert "explodes" in str(advice) and "chi_1 = 1.24" in str(advice)
    assert chain.factor_measured > 10

    fixed = tanh_mlp(3.0)
    assert advice.apply(fixed) == 15
    after = actlab.advise(fixed, batch, steps=5)
    assert "init" not in topics(after)
    assert 1 / 10 < after.chains[0].factor_measured < 10
    assert after.chains[0].chi1_measured == pytest.approx(1.0, abs=0.15)
    assert after.chains[0].sigma_w2 == pytest.approx(1.0, rel=0.05)


def test_deep_tanh_in_the_ordered_phase_vanishes_as_chi1_equals_sigma_w2(batch):
    advice = actlab.advise(tanh_mlp(0.3), batch, steps=5)
    (chain,) = advice.chains
    # q* = 0 and tanh'(0) = 1, so chi_1 = sigma_w^2 exactly (at the sampled weights' sigma_w^2)
    assert chain.chi1 == pytest.approx(chain.sigma_w2, rel=1e-6)
    assert chain.chi1_measured == pytest.approx(chain.sigma_w2, rel=0.1)
    assert chain.factor_measured < 1e-5
    assert "vanishes" in str(advice) and "6 xi_c" in str(advice)
    fixed = tanh_mlp(0.3)
    advice.apply(fixed)
    after = actlab.advise(fixed, batch, steps=0)
    assert after.chains[0].factor_measured > chain.factor_measured * 1e4


def test_deep_relu_at_pytorch_default_init_gets_he_gain(batch):
    model = build_model("mlp", "relu", depth=16, width=128, dropout=False, init="pytorch", seed=0)
    advice = actlab.advise(model, batch, steps=5)
    (chain,) = advice.chains
    # PyTorch's default Linear init has Var(W) = 1 / (3 fan_in): sigma_w^2 = 1/3, and ReLU's chi_1 = sigma_w^2 / 2
    assert chain.sigma_w2 == pytest.approx(1 / 3, rel=0.05)
    assert chain.chi1 == pytest.approx(chain.sigma_w2 / 2, rel=1e-6)
    assert chain.chi1_measured == pytest.approx(chain.chi1, rel=0.15)
    (rec,) = [r for r in advice.recommendations if r.topic == "init"]
    assert rec.values["gain"] == pytest.approx(math.sqrt(2), rel=1e-9)
    fixed = build_model("mlp", "relu", depth=16, width=128, dropout=False, init="pytorch", seed=0)
    advice.apply(fixed)
    after = actlab.advise(fixed, batch, steps=5)
    assert "init" not in topics(after)
    assert after.chains[0].chi1_measured == pytest.approx(1.0, abs=0.15)


def test_seed_cnn_is_left_alone(batch):
    model = build_model("cnn", "relu", seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    advice = actlab.advise(model, batch, steps=5)
    assert advice.healthy, str(advice)
    assert "nothing to change" in str(advice)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # a copy trained, not the model
    relu_layers = [layer for layer in advice.layers if layer.activation == "relu"]
    assert [layer.kind for layer in relu_layers] == ["Conv2d", "Conv2d", "Linear"]
    for layer in relu_layers:  # He init: sigma_w^2 near 2, ReLU's chi_1 = sigma_w^2 / 2
        assert layer.chi1 == pytest.approx(layer.sigma_w2 / 2, rel=1e-6)
        assert 1.5 < layer.sigma_w2 < 2.5
    assert advice.measurements.final_loss < advice.measurements.losses[0]


def test_without_labels_only_initialisation_is_measured(batch):
    advice = actlab.advise(tanh_mlp(3.0, depth=6), batch[0])
    assert advice.measurements.steps == [] and advice.measurements.losses == []
    assert any("no labels" in n for n in advice.notes)
    assert advice.chains[0].chi1_measured is not None


def test_html_and_json(batch, tmp_path):
    advice = actlab.advise(tanh_mlp(0.3, depth=8), batch, steps=3)
    page = advice.to_html(tmp_path / "a" / "advice.html").read_text()
    assert "Recommendations" in page and "std = 1 / sqrt(fan_in)" in page and "<script src" not in page
    data = json.loads(json.dumps(advice.to_dict(), allow_nan=False))
    assert data["recommendations"][0]["topic"] == "init" and not data["healthy"]
    assert len(data["layers"]) == 9


def test_bad_input_is_explained():
    model = tanh_mlp(1.0, depth=2)
    with pytest.raises(TypeError, match="nn.Module"):
        actlab.advise("not a model", torch.zeros(2, 784))
    with pytest.raises(ValueError, match="one entry per sample"):
        actlab.advise(model, torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="optimizer"):
        actlab.advise(model, (torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)), optimizer="lbfgs")


def test_deep_gelu_at_pytorch_default_is_flagged(batch):
    # zero biases: q* = 0, where GELU'(0) = 1/2 gives chi_1 = sigma_w^2 / 4 in closed form
    torch.manual_seed(0)
    layers = [nn.Flatten(), nn.Linear(784, 128), nn.GELU()]
    layers += [m for _ in range(8) for m in (nn.Linear(128, 128), nn.GELU())]
    model = nn.Sequential(*layers, nn.Linear(128, 10))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.zeros_(layer.bias)
    advice = actlab.advise(model, batch, steps=3)
    (chain,) = advice.chains
    assert chain.activation == "gelu" and chain.depth == 8
    assert chain.chi1 == pytest.approx(chain.sigma_w2 / 4, rel=1e-3)
    assert chain.chi1_measured == pytest.approx(chain.chi1, rel=0.15)
    (rec,) = [r for r in advice.recommendations if r.layers == [layer.name for layer in chain.layers]]
    assert rec.topic in ("init", "activation") and "vanishes" in " ".join(rec.evidence)


def test_a_batchnorm_model_is_left_exactly_as_it_was(batch):
    model = build_model("mlp", "relu", depth=3, width=32, batchnorm=True, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}  # includes BatchNorm's running statistics
    advice = actlab.advise(model, batch, steps=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any("normalises" in n for n in advice.notes)


def test_dead_relu_units_are_reported_with_the_born_dead_probability(batch):
    model = build_model("mlp", "relu", depth=3, width=32, dropout=False, seed=0)
    with torch.no_grad():
        model[3].bias.fill_(-100.0)  # the second hidden layer: every pre-activation negative on every image
    advice = actlab.advise(model, batch, steps=2)
    (rec,) = [r for r in advice.recommendations if r.topic == "activation"]
    assert rec.layers == ["3"] and rec.values["frac_dead"] == 1.0
    assert "100% of the units of 3" in rec.evidence[0]
    # Lu et al. 2019 for width 32 and depth 3: 1 - (1 - 2^-32)^3
    assert f"{1 - (1 - 2.0 ** -32) ** 3:.3g}" in rec.evidence[1]


def test_clipping_only_when_a_spike_hurt():
    from actlab.advise.rules import clipping_rule

    norms = [1.0, 1.2, 0.9, 30.0, 1.1, 1.0]
    assert clipping_rule([2.0, 1.9, 1.8, 1.7, 1.6, 1.5], norms) is None  # the spike did no harm
    rec = clipping_rule([2.0, 1.9, 1.8, 1.7, 3.5, 3.0], norms)  # the loss rose after the spike at step 4
    assert rec.topic == "clipping" and rec.values["clip_norm"] == pytest.approx(1.05)
    assert rec.values["spikes"] == [4] and "rose from 1.7 to 3.5" in " ".join(rec.evidence)
    diverged = clipping_rule([2.0, 1.9, 1.8, float("nan")], [1.0, 1.1, 1.2, float("inf")])
    assert diverged.values["diverged"]
