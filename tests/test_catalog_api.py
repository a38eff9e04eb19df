"""The catalog's public API and how it treats bad input."""
import pytest
import torch

import actlab
import actlab.modules
from actlab.catalog import CLASSES, DEFINITIONS, UnknownActivation


def test_at_least_thirty_activations_with_unique_classes():
    names = actlab.names()
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert len({CLASSES[n].__name__ for n in names}) == len(names)


@pytest.mark.parametrize("alias, canonical", [
    ("swish", "silu"), ("SiLU", "silu"), ("leaky-relu", "leaky_relu"), ("leaky_relu", "leaky_relu"),
    ("lrelu", "leaky_relu"), ("Leaky ReLU", "leaky_relu"), ("LeakyReLU", "leaky_relu"),
    ("gelu_tanh", "gelu_tanh"), ("gelu_new", "gelu_tanh"), ("quick_gelu", "gelu_sigmoid"),
    ("GELU", "gelu"), ("h-swish", "hardswish"), ("logistic", "sigmoid"), ("step", "binary_step"),
])
def test_aliases_resolve(alias, canonical):
    assert actlab.resolve(alias) == canonical
    assert actlab.spec(alias) is DEFINITIONS[canonical]
    assert isinstance(actlab.get(alias), CLASSES[canonical])


def test_every_declared_alias_resolves_to_its_owner():
    for name, spec in DEFINITIONS.items():
        for alias in (name, spec.class_name, *spec.aliases):
            assert actlab.resolve(alias) == name, alias


def test_unknown_name_lists_close_matches_and_points_to_list():
    with pytest.raises(UnknownActivation) as info:
        actlab.get("leaky_relux")
    message = str(info.value)
    assert "'leaky_relu'" in message and "actlab list" in message
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)
    with pytest.raises(UnknownActivation, match="actlab list"):
        actlab.spec("zzzz")
    with pytest.raises(TypeError, match="must be a string"):
        actlab.resolve(3)


@pytest.mark.parametrize("name, params, words", [
    ("softplus", {"beta": -1.0}, ["beta", "(0.0, inf)"]),
    ("celu", {"alpha": 0.0}, ["alpha", "(0.0, inf)"]),
    ("leaky_relu", {"negative_slope": -0.1}, ["negative_slope", "[0.0, inf)"]),
    ("snake", {"alpha": float("nan")}, ["alpha", "NaN"]),
    ("prelu", {"num_parameters": 2.5}, ["num_parameters", "integer"]),
    ("elu", {"alpha": "big"}, ["alpha", "number"]),
    ("relu", {"alpha": 1.0}, ["unknown parameter", "'alpha'", "no parameters"]),
    ("elu", {"alhpa": 1.0}, ["unknown parameter", "'alhpa'", "expected alpha"]),
    ("elu", {"alpha": "learnable"}, ["cannot be learnable"]),
])
def test_bad_parameters_raise_value_error_naming_them(name, params, words):
    with pytest.raises(ValueError) as info:
        actlab.get(name, **params)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_parse_and_label():
    assert actlab.parse("elu:alpha=0.2") == ("elu", {"alpha": 0.2})
    assert actlab.parse("Leaky-ReLU:0.2") == ("leaky_relu", {"negative_slope": 0.2})
    assert actlab.parse("softplus:beta=2:threshold=none") == ("softplus", {"beta": 2, "threshold": None})
    assert actlab.parse("silu:beta=learnable") == ("silu", {"beta": "learnable"})
    assert actlab.label("ELU:alpha=0.2") == "elu:alpha=0.2"
    assert actlab.label("swish") == "silu"
    assert actlab.label("softplus:threshold=20:beta=2") == "softplus:beta=2:threshold=20"
    module = actlab.get("elu:alpha=0.2")
    assert module.params["alpha"] == 0.2


@pytest.mark.parametrize("text, words", [
    ("", ["empty"]),
    ("elu:", ["empty parameter"]),
    ("elu:alpha=abc", ["cannot read parameter value", "'abc'"]),
    ("softplus:2", ["key=value", "beta, threshold"]),
    ("elu:alpha=-1", ["alpha", "outside its valid range"]),
    ("nosuch:alpha=1", ["unknown activation", "actlab list"]),
])
def test_parse_rejects_malformed_strings(text, words):
    with pytest.raises(ValueError) as info:
        actlab.parse(text)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_get_returns_modules_and_instantiates_classes():
    built = actlab.get("gelu")
    assert actlab.get(built) is built
    with pytest.raises(ValueError, match="already built"):
        actlab.get(built, alpha=1.0)
    assert isinstance(actlab.get(actlab.modules.ELU, alpha=0.5), actlab.modules.ELU)
    assert actlab.get("elu", alpha=0.5).params == {"alpha": 0.5}


def test_generated_classes_are_importable_and_documented():
    for name, cls in CLASSES.items():
        spec = DEFINITIONS[name]
        assert getattr(actlab.modules, cls.__name__) is cls
        assert cls.__module__ == "actlab.modules"
        assert spec.formula in cls.__doc__ and spec.dformula in cls.__doc__
        for p in spec.params:
            assert f"{p.name}:" in cls.__doc__
    for cls_name in ("GELU", "ReLU", "SiLU", "LeakyReLU", "Softmax", "PReLU"):
        assert hasattr(actlab.modules, cls_name)
    assert "Subclass" not in repr(actlab.get("elu", alpha=0.2)) and "alpha=0.2" in repr(actlab.get("elu", alpha=0.2))


def test_rrelu_train_differs_from_eval_and_eval_derivative_is_mean_slope():
    rrelu = actlab.get("rrelu", lower=0.1, upper=0.3)
    x = -torch.linspace(1, 2, 1000, dtype=torch.float64)
    torch.manual_seed(0)
    train = rrelu.train()(x)
    slopes = train / x
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    evaluated = rrelu.eval()(x)
    torch.testing.assert_close(evaluated, 0.2 * x)
    torch.testing.assert_close(rrelu.derivative(x), torch.full_like(x, 0.2))
    torch.testing.assert_close(rrelu.derivative(-x), torch.ones_like(x))


@pytest.mark.parametrize("name, params, words", [
    ("rrelu", {"lower": 0.5, "upper": 0.1}, ("lower", "upper")),
    ("hardtanh", {"min_val": 2.0, "max_val": 1.0}, ("min_val", "max_val")),
    ("hardtanh", {"min_val": 1.0, "max_val": 1.0}, ("min_val", "max_val")),
])
def test_parameter_combinations_are_checked_at_construction(name, params, words):
    with pytest.raises(ValueError) as info:
        actlab.get(name, **params)
    assert all(w in str(info.value) for w in words) and "actlab show" in str(info.value)


def test_sparse_input_runs_where_pytorch_can_and_says_what_to_do_elsewhere():
    """A sparse tensor: ReLU and tanh (PyTorch's ops, the definitions, nothing to guard) stay sparse and
    equal PyTorch's; elsewhere a TypeError that names the activation and the layout and says to call
    to_dense() (and, where f(0) = 0, that the values() alone keep the sparsity), not PyTorch's
    NotImplementedError about another op (aminmax, clamp) from inside the module."""
    import torch.nn.functional as F
    import actlab.functional as AF

    x = torch.tensor([[0.0, -1.5, 0.0], [2.0, 0.0, -0.25]]).to_sparse()
    for name, want in (("relu", F.relu(x)), ("tanh", torch.tanh(x))):
        got = actlab.get(name)(x)
        assert got.layout == torch.sparse_coo, (name, got.layout)
        torch.testing.assert_close(got.to_dense(), want.to_dense(), rtol=0, atol=0)
    for call in (actlab.get("gelu"), AF.gelu, actlab.get("hardtanh")):
        with pytest.raises(TypeError) as info:
            call(x)
        msg = str(info.value)
        assert "takes dense (strided) tensors" in msg and "torch.sparse_coo" in msg and "x.to_dense()" in msg, msg
        assert "values() keeps the sparsity" in msg, msg  # GELU(0) = hardtanh(0) = 0
    with pytest.raises(TypeError) as info:
        actlab.get("sigmoid")(x)
    msg = str(info.value)
    assert "actlab's sigmoid" in msg and "aten::sigmoid" in msg and "values()" not in msg, msg  # sigmoid(0) = 1/2
