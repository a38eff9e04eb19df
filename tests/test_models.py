"""actlab.models: the seed CNN, the MLP, user factories, per-activation init and dropout, swap."""
import math

import pytest
import torch
from torch import nn

import actlab
from actlab.catalog import CLASSES, DEFINITIONS
from actlab.catalog.module import ActivationModule
from actlab.models import build_model, init_weights, scheme_for, swap


def _count(model):
    return sum(p.numel() for p in model.parameters())


# --- the seed CNN and the MLP ------------------------------------------------ #
def test_seed_cnn_matches_the_keras_example_layer_for_layer():
    model = build_model("cnn", "relu", seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d", "Dropout", "Flatten",
                     "Linear", "ReLU", "Dropout", "Linear"]
    assert [m.p for m in model if isinstance(m, nn.Dropout)] == [0.25, 0.5]
    assert (model[7].in_features, model[7].out_features) == (9216, 128)
    assert _count(model) == 1_199_882
    assert isinstance(model[1], ActivationModule) and model[1].spec.name == "relu"
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_cnn_batchnorm_goes_before_each_activation_and_replaces_the_bias():
    model = build_model("cnn", "gelu", batchnorm=True, seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds[:6] == ["Conv2d", "BatchNorm2d", "GELU", "Conv2d", "BatchNorm2d", "GELU"]
    assert kinds[9:12] == ["Linear", "BatchNorm1d", "GELU"]
    assert model[0].bias is None and model[-1].bias is not None
    assert model(torch.rand(4, 1, 28, 28)).shape == (4, 10)


def test_mlp_has_the_requested_depth_and_width():
    model = build_model("mlp", "tanh", depth=3, width=64, seed=0)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 64), (64, 64), (64, 64), (64, 10)]
    assert sum(isinstance(m, CLASSES["tanh"]) for m in model) == 3
    assert _count(model) == 784 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 10 + 10
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_same_seed_same_weights_and_the_global_rng_is_left_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_model("cnn", "elu", seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_model("cnn", "elu", seed=5)
    c = build_model("cnn", "elu", seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)


@pytest.mark.parametrize("kind, message", [("resnet", "expected 'cnn', 'mlp'"), ("cnn", None)])
def test_bad_model_kind_or_activation_is_a_clear_error(kind, message):
    if message:
        with pytest.raises(ValueError, match=message):
            build_model(kind, "relu")
    else:
        with pytest.raises(ValueError, match="unknown activation 'relux'"):
            build_model(kind, "relux")


# --- user factories ---------------------------------------------------------- #
def tiny_factory(act, in_shape, num_classes):
    """A factory as a user would write it (imported by the tests as 'test_models:tiny_factory')."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), 16), act(), nn.Linear(16, num_classes))


def not_a_model(act, in_shape, num_classes):
    return "not a module"


def test_user_factory_gets_fresh_activations_and_the_activation_init():
    model = build_model("test_models:tiny_factory", "selu", in_shape=(1, 8, 8), num_classes=3, seed=0)
    assert isinstance(model[2], CLASSES["selu"])
    fan_in = 64
    assert model[1].weight.std().item() == pytest.approx(1 / math.sqrt(fan_in), rel=0.25)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize("kind, message", [
    ("no_such_pkg_xyz.models:make", "cannot import module 'no_such_pkg_xyz.models'"),
    ("test_models:missing", "has no callable 'missing'"),
    ("test_models:not_a_model", "returned str, not a torch.nn.Module"),
    ("test_models:", "expected 'cnn', 'mlp' or a factory"),
])
def test_user_factory_errors_say_what_to_fix(kind, message):
    with pytest.raises(ValueError, match=message):
        build_model(kind, "relu")


# --- initialisation per activation ------------------------------------------- #
@pytest.mark.parametrize("activation, scheme", [
    ("relu", "he"), ("leaky_relu", "he"), ("elu", "he"), ("gelu", "he"), ("silu", "he"), ("mish", "he"),
    ("sigmoid", "glorot"), ("tanh", "glorot"), ("softsign", "glorot"), ("hardtanh", "glorot"),
    ("selu", "lecun"),
])
def test_auto_scheme_follows_the_catalog_family(activation, scheme):
    assert scheme_for(activation) == scheme


def test_every_catalog_activation_gets_a_scheme():
    assert {scheme_for(name) for name in DEFINITIONS} == {"he", "glorot", "lecun"}


def _dense_weights(scheme, activation):
    layer = nn.Linear(2000, 500)
    init_weights(nn.Sequential(layer), activation, scheme, generator=torch.Generator().manual_seed(0))
    return layer


@pytest.mark.parametrize("activation, scheme, std", [
    ("relu", "auto", math.sqrt(2 / 2000)),
    ("leaky_relu:negative_slope=0.5", "auto", math.sqrt(2 / (1.25 * 2000))),
    ("tanh", "auto", math.sqrt(2 / 2500)),
    ("selu", "auto", math.sqrt(1 / 2000)),
    ("relu", "lecun", math.sqrt(1 / 2000)),
    ("relu", "glorot", math.sqrt(2 / 2500)),
])
def test_weight_std_matches_the_scheme_and_biases_are_zero(activation, scheme, std):
    layer = _dense_weights(scheme, activation)
    assert layer.weight.std().item() == pytest.approx(std, rel=0.01)
    assert torch.count_nonzero(layer.bias) == 0


def test_glorot_is_uniform_within_its_limit_and_pytorch_keeps_the_layer_init():
    glorot = _dense_weights("glorot", "relu").weight
    limit = math.sqrt(6 / 2500)
    assert glorot.abs().max().item() <= limit and glorot.abs().max().item() > 0.99 * limit
    layer = nn.Linear(20, 5)
    before = layer.weight.clone(), layer.bias.clone()
    assert init_weights(nn.Sequential(layer), "relu", "pytorch") == "pytorch"
    assert torch.equal(layer.weight, before[0]) and torch.equal(layer.bias, before[1])


def test_cnn_conv_weights_use_the_receptive_field_as_fan_in():
    model = build_model("cnn", "relu", seed=0)
    assert model[2].weight.std().item() == pytest.approx(math.sqrt(2 / (32 * 9)), rel=0.02)


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="expected one of auto, he, glorot, lecun, pytorch"):
        init_weights(nn.Linear(2, 2), "relu", "xavier")


# --- dropout per activation -------------------------------------------------- #
def test_selu_models_use_alpha_dropout_and_others_plain_dropout():
    selu = build_model("cnn", "selu", seed=0)
    relu = build_model("mlp", "relu", seed=0)
    assert [type(m) for m in selu if isinstance(m, nn.Dropout | nn.AlphaDropout)] == [nn.AlphaDropout] * 2
    assert not any(isinstance(m, nn.AlphaDropout) for m in relu)
    assert any(type(m) is nn.Dropout for m in relu)
    assert not any(isinstance(m, (nn.Dropout, nn.AlphaDropout)) for m in build_model("mlp", "relu", dropout=False))


def test_alpha_dropout_constants_are_selus():
    """Dropped units are set to alpha' = -lambda * alpha, then a*x + b restores mean 0 and variance 1."""
    from actlab.catalog.definitions import SELU_ALPHA, SELU_SCALE

    p = 0.2
    alpha_prime = -SELU_SCALE * SELU_ALPHA
    assert alpha_prime == pytest.approx(-1.7580993408473766, abs=1e-15)
    a = ((1 - p) * (1 + p * alpha_prime ** 2)) ** -0.5
    b = -a * alpha_prime * p
    drop = nn.AlphaDropout(p).train()
    torch.manual_seed(0)
    zeros = drop(torch.zeros(100_000, dtype=torch.float64))
    ones = drop(torch.ones(100_000, dtype=torch.float64))
    kept_zero, dropped = zeros.max().item(), zeros.min().item()
    assert kept_zero == pytest.approx(b, rel=1e-6)  # a * 0 + b
    assert dropped == pytest.approx(a * alpha_prime + b, rel=1e-6)
    assert ones.max().item() == pytest.approx(a + b, rel=1e-6)
    assert (zeros == dropped).double().mean().item() == pytest.approx(p, abs=0.01)
    # The point of the correction: N(0, 1) input keeps mean 0 and variance 1.
    out = drop(torch.randn(400_000, dtype=torch.float64))
    assert out.mean().item() == pytest.approx(0, abs=0.01) and out.var().item() == pytest.approx(1, abs=0.01)


# --- swap --------------------------------------------------------------------- #
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Sequential(nn.Linear(8, 8), nn.ReLU()))
        self.gate = nn.SiLU()

    def forward(self, x):
        return self.gate(self.body(x))


def foreign_model():
    """A model actlab did not build: activations nested at several depths, plus an output softmax."""
    return nn.Sequential(Block(), nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 3), nn.Softmax(dim=-1))


def test_swap_replaces_every_nested_activation_with_a_fresh_module():
    model = foreign_model()
    x = torch.randn(5, 8)
    assert actlab.swap(model, "elu:alpha=0.5") == 4
    acts = [m for m in model.modules() if isinstance(m, ActivationModule)]
    assert len(acts) == 4 and all(isinstance(m, CLASSES["elu"]) and m.params["alpha"] == 0.5 for m in acts)
    assert len({id(m) for m in acts}) == 4
    assert not any(isinstance(m, (nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh)) for m in model.modules())
    assert isinstance(model[-1], nn.Softmax)  # not elementwise: left in place
    assert torch.allclose(model(x).sum(-1), torch.ones(5))


def test_swap_replaces_actlab_modules_too_and_keeps_train_mode_and_dtype():
    model = build_model("mlp", "relu", depth=2, seed=0).double().eval()
    assert swap(model, "prelu") == 2
    prelus = [m for m in model if isinstance(m, CLASSES["prelu"])]
    assert all(m.weight.dtype == torch.float64 and not m.training for m in prelus)
    assert prelus[0].weight is not prelus[1].weight


def test_swap_on_a_model_without_activation_modules_is_an_error():
    with pytest.raises(ValueError, match="no activation modules to swap.*F.relu"):
        swap(nn.Sequential(nn.Linear(3, 3)), "gelu")


def test_swap_refuses_unknown_and_vector_activations_without_touching_the_model():
    model = foreign_model()
    with pytest.raises(ValueError, match="unknown activation"):
        swap(model, "nosuchact")
    with pytest.raises(ValueError, match="not elementwise"):
        swap(model, "softmax")
    assert isinstance(model[0].gate, nn.SiLU)


def test_dropout_kind_comes_from_the_definition():
    """AlphaDropout is chosen by the definition's `dropout` field, not by the name: every activation that
    declares it gets AlphaDropout, every other gets nn.Dropout."""
    from actlab.catalog import DEFINITIONS
    from actlab.models.build import dropout_layer

    alpha = [n for n, d in DEFINITIONS.items() if d.dropout == "alpha"]
    assert alpha == ["selu"]  # Klambauer et al. (2017): the only self-normalising unit in the catalog
    for name, d in DEFINITIONS.items():
        layer = dropout_layer(name, 0.1)
        assert isinstance(layer, nn.AlphaDropout) == (d.dropout == "alpha"), name


def test_plain_mlp_is_the_mlp_without_dropout():
    plain = build_model("plain-mlp", "selu", depth=3, width=16, seed=0)
    with_dropout = build_model("mlp", "selu", depth=3, width=16, seed=0)
    assert not any(isinstance(m, (nn.Dropout, nn.AlphaDropout)) for m in plain.modules())
    kept = [m for m in with_dropout if not isinstance(m, (nn.Dropout, nn.AlphaDropout))]
    assert [type(m) for m in plain] == [type(m) for m in kept]
    for a, b in zip(plain.state_dict().values(), with_dropout.state_dict().values()):
        assert torch.equal(a, b)  # same seed, same weights: dropout draws nothing at construction
    assert sum(isinstance(m, nn.BatchNorm1d) for m in build_model("plain-mlp", "relu", depth=4,
                                                                    batchnorm=True).modules()) == 4
