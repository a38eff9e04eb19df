"""actlab.catalog.torch_map: one map from torch.nn activations to catalog entries, used by swap,
diagnose, accelerate and init. Expected values come from PyTorch's own modules and closed forms."""
import ast
import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.modules.activation as torch_activations
from torch import nn

import actlab
from actlab.catalog import DEFINITIONS
from actlab.catalog.torch_map import TORCH_CLASSES, catalog_entry, catalog_module, catalog_name, is_elementwise
from actlab.diagnose.derivatives import derivative_fn
from actlab.models import PoolThenActivation, accelerate, he_gain, init_weights, scheme_for, spec_string, swap

SRC = Path(actlab.__file__).parent

# Settings other than PyTorch's defaults, so that reading the attributes is what is tested.
NON_DEFAULT = {
    nn.ELU: {"alpha": 0.3}, nn.CELU: {"alpha": 0.7}, nn.LeakyReLU: {"negative_slope": 0.2},
    nn.Softplus: {"beta": 2.0, "threshold": 5.0}, nn.Hardtanh: {"min_val": -2.0, "max_val": 3.0},
    nn.RReLU: {"lower": 0.1, "upper": 0.4}, nn.PReLU: {"num_parameters": 6, "init": 0.1},
    nn.Softshrink: {"lambd": 0.3}, nn.Hardshrink: {"lambd": 0.7}, nn.Threshold: {"threshold": 0.1, "value": -2.0},
    nn.Softmax: {"dim": 1}, nn.Softmin: {"dim": 1}, nn.LogSoftmax: {"dim": 1}, nn.GLU: {"dim": 1},
}
MAPPED = sorted(TORCH_CLASSES, key=lambda c: c.__name__)


def _grid() -> torch.Tensor:
    """1200 points in [-12, 12], shaped (8, 6, 25): dim 1 holds PReLU's six channels and GLU's even split."""
    return torch.linspace(-12.0, 12.0, 1200, dtype=torch.float64).reshape(8, 6, 25)


def test_the_map_covers_pytorchs_activations():
    names = {c.__name__ for c in TORCH_CLASSES}
    assert {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "CELU", "SELU", "GELU", "SiLU", "Mish",
            "Sigmoid", "Tanh", "Softplus", "Softsign", "Hardtanh", "Hardsigmoid", "Hardswish", "LogSigmoid",
            "Tanhshrink", "Softshrink", "Hardshrink", "Softmax"} <= names
    defined = {c.__name__ for c in vars(torch_activations).values()
               if isinstance(c, type) and issubclass(c, nn.Module) and c.__module__ == torch_activations.__name__}
    # the two that are not activations of one tensor: attention, and softmax over channels of images
    assert defined - names == {"MultiheadAttention", "Softmax2d"}


def test_each_mapped_class_is_named_like_its_definitions_module():
    """The map comes from the parity table's PyTorch column; an independent check of that column:
    PyTorch's class and the catalog's module class have the same name, case aside (Hardswish, HardSwish)."""
    from actlab.catalog.registry import normalise

    for cls, name in TORCH_CLASSES.items():
        assert normalise(cls.__name__) == normalise(DEFINITIONS[name].class_name), (cls, name)
    assert catalog_name(nn.GELU(approximate="tanh")) == "gelu_tanh" and catalog_name(nn.GELU()) == "gelu"
    assert nn.Identity not in TORCH_CLASSES  # a placeholder in models: swap must leave it alone


def test_parameter_names_are_pytorchs_attribute_names_with_known_exceptions():
    """Where names differ the map would silently use a default; every such place is listed here."""
    only_catalog, only_torch = {}, {}
    for cls, name in TORCH_CLASSES.items():
        module = cls(**NON_DEFAULT.get(cls, {}))
        ours = {p.name for p in DEFINITIONS[name].params}
        theirs = {k for k in vars(module) if not k.startswith("_") and k not in ("training", "inplace")}
        theirs |= {k for k, _ in module.named_parameters()}
        if ours - theirs:
            only_catalog[cls.__name__] = ours - theirs
        if theirs - ours:
            only_torch[cls.__name__] = theirs - ours
    # PyTorch computes the catalog's default for these: SiLU is beta = 1, Softmax has temperature 1
    assert only_catalog == {"SiLU": {"beta"}, "Softmax": {"temperature"}}
    # ReLU6 fixes its clip values (0, 6); GELU's approximate selects gelu_tanh; PReLU's init is the weight's start
    assert only_torch == {"ReLU6": {"min_val", "max_val"}, "GELU": {"approximate"}, "PReLU": {"init"}}


@pytest.mark.parametrize("cls", MAPPED, ids=lambda c: c.__name__)
def test_every_mapped_pytorch_class_round_trips_with_its_parameters(cls):
    torch_module = cls(**NON_DEFAULT.get(cls, {})).double().eval()
    name, params = catalog_entry(torch_module)
    assert name == TORCH_CLASSES[cls]
    for key, value in NON_DEFAULT.get(cls, {}).items():
        if key in params:
            assert params[key] == value
    ours = catalog_module(torch_module)
    assert ours is not None and ours.spec.name == name
    x = _grid()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), torch_module(x), rtol=1e-15, atol=0.0)


def test_gelu_tanh_is_its_own_entry_and_pytorch_only_settings_are_not_the_catalogs():
    x = _grid()
    approx = nn.GELU(approximate="tanh").double()
    assert catalog_entry(approx) == ("gelu_tanh", {})
    # The same function; PyTorch's 1 + tanh u cancels in the left tail, where the catalog's x sigmoid(2u)
    # keeps relative precision: equal to a few float64 eps absolute.
    torch.testing.assert_close(catalog_module(approx)(x), approx(x), rtol=1e-15, atol=1e-15)
    # PyTorch accepts a negative ELU alpha; the catalog's ELU has alpha >= 0 (a monotonic function)
    assert catalog_entry(nn.ELU(alpha=-0.5)) == ("elu", {"alpha": -0.5})
    assert catalog_module(nn.ELU(alpha=-0.5)) is None
    assert catalog_entry(nn.Linear(2, 2)) is None and catalog_entry(nn.MultiheadAttention(4, 2)) is None


def test_a_converted_prelu_carries_its_trained_slopes():
    prelu = nn.PReLU(3)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.1, -0.2, 0.3]))
    ours = catalog_module(prelu)
    assert torch.equal(ours.weight, prelu.weight) and ours.weight is not prelu.weight
    x = torch.randn(4, 3, 5)
    assert torch.equal(ours(x), prelu(x))


# --- accelerate: non-decreasing is decided by the catalog for these parameters ----------------- #
def _pool_model(act: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), act, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 10)).eval()


@pytest.fixture(scope="module")
def digits():
    from actlab.data import load_dataset

    ds = load_dataset("mnist-small", progress=False)
    return ds.train_images[:32].unsqueeze(1).float() / 255


def test_accelerate_does_not_pool_before_an_elu_with_negative_alpha(digits):
    model = _pool_model(nn.ELU(alpha=-0.5))
    fast = accelerate(model)
    assert not any(isinstance(m, PoolThenActivation) for m in fast)
    with torch.no_grad():
        assert torch.equal(fast(digits), model(digits))
        # ... and pooling first would indeed change what the model computes
        z = model[0](digits)
        assert not torch.equal(model[2](model[1](z)), model[1](model[2](z)))


@pytest.mark.parametrize("act", [nn.ELU(alpha=0.5), nn.LeakyReLU(0.2), nn.Hardtanh(-2.0, 3.0), nn.Softplus(beta=2.0),
                                 nn.Sigmoid(), nn.Hardshrink(0.3)], ids=repr)
def test_accelerate_pools_first_for_non_decreasing_settings_with_identical_output(act, digits):
    model = _pool_model(act)
    fast = accelerate(model)
    assert any(isinstance(m, PoolThenActivation) for m in fast)
    with torch.no_grad():
        assert torch.equal(fast(digits), model(digits))


@pytest.mark.parametrize("act", [nn.LeakyReLU(-0.1), nn.GELU(), nn.PReLU(), nn.RReLU(), nn.Softmax(dim=1)], ids=repr)
def test_accelerate_leaves_the_order_for_everything_else(act):
    assert not any(isinstance(m, PoolThenActivation) for m in accelerate(_pool_model(act)))


# --- diagnose: the definition's derivative, nothing written twice ------------------------------ #
ELEMENTWISE = [n for n in actlab.names() if is_elementwise(DEFINITIONS[n])]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_diagnose_derivative_is_the_definitions(name):
    definition = DEFINITIONS[name]
    module = actlab.get(name).double().eval()
    z = _grid()
    with torch.no_grad():
        got = derivative_fn(module)(z, module(z))
    expected = definition.derivative(z, **definition.formula_params(definition.defaults()))
    torch.testing.assert_close(got, expected, rtol=0.0, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("cls", [c for c in MAPPED if is_elementwise(DEFINITIONS[TORCH_CLASSES[c]])],
                         ids=lambda c: c.__name__)
def test_diagnose_derivative_of_a_pytorch_module_is_the_definitions_at_its_parameters(cls):
    module = cls(**NON_DEFAULT.get(cls, {})).double().eval()
    name, params = catalog_entry(module)
    definition = DEFINITIONS[name]
    z = _grid()
    with torch.no_grad():
        got = derivative_fn(module)(z, module(z))
        expected = definition.derivative(z, **definition.formula_params(params))
    torch.testing.assert_close(got, expected, rtol=0.0, atol=0.0, equal_nan=True)


# --- init: the scheme and the gain come from the definition ---------------------------------- #
def test_every_declared_init_is_a_scheme_and_auto_uses_it(monkeypatch):
    assert all(d.init in ("", "he", "lecun", "glorot") for d in DEFINITIONS.values())
    assert all(scheme_for(n) == d.init for n, d in DEFINITIONS.items() if d.init)
    assert DEFINITIONS["selu"].init == "lecun"
    # the decision is read from the definition, not from a list kept elsewhere
    monkeypatch.setitem(DEFINITIONS, "tanh", dataclasses.replace(DEFINITIONS["tanh"], init="lecun"))
    assert scheme_for("tanh") == "lecun"


@pytest.mark.parametrize("spec_text, slope", [
    ("relu", 0.0), ("leaky_relu", 0.01), ("leaky_relu:negative_slope=0.2", 0.2), ("prelu", 0.25),
    ("rrelu:lower=0.1:upper=0.3", 0.2),
])
def test_he_gain_is_hes_closed_form_for_piecewise_linear_rectifiers(spec_text, slope):
    # He, Zhang, Ren, Sun (2015), eq. 15: (1 + a^2) / 2 * n * Var[w] = 1
    assert he_gain(spec_text) == pytest.approx(math.sqrt(2.0 / (1.0 + slope * slope)), rel=1e-9)


def test_he_gain_of_smooth_rectifiers_is_sqrt_2():
    assert he_gain("elu") == he_gain("gelu") == he_gain("silu") == math.sqrt(2.0)


def test_init_takes_a_pytorch_module_through_the_map():
    assert spec_string(nn.LeakyReLU(0.5)) == "leaky_relu:negative_slope=0.5"
    assert spec_string(nn.GELU(approximate="tanh")) == "gelu_tanh"
    layer = nn.Linear(2000, 500)
    assert init_weights(nn.Sequential(layer), nn.LeakyReLU(0.5), generator=torch.Generator().manual_seed(0)) == "he"
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / (1.25 * 2000)), rel=0.01)
    assert init_weights(nn.Sequential(nn.Linear(3, 3)), nn.SELU()) == "lecun"
    with pytest.raises(ValueError, match="not an activation the catalog has"):
        init_weights(nn.Sequential(nn.Linear(3, 3)), nn.Softmax2d())


# --- swap: what counts as an activation is the map's elementwise entries ----------------------- #
def test_swap_replaces_mapped_elementwise_modules_and_subclasses_and_leaves_vector_ones():
    class MyReLU(nn.ReLU):
        pass

    model = nn.Sequential(nn.Linear(8, 8), MyReLU(), nn.Linear(8, 8), nn.Hardtanh(-2.0, 2.0), nn.Linear(8, 8),
                          nn.GLU(dim=-1), nn.Softmax2d())
    assert swap(model, "elu") == 2
    assert isinstance(model[1], actlab.catalog.CLASSES["elu"]) and isinstance(model[3], actlab.catalog.CLASSES["elu"])
    assert isinstance(model[5], nn.GLU) and isinstance(model[6], nn.Softmax2d)


# --- the plotting package holds plots only ----------------------------------------------------- #
def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_plots_has_no_text_pages_and_the_catalog_imports_nothing_above_it():
    assert not (SRC / "plots" / "text.py").exists()
    for path in (SRC / "plots").glob("*.py"):
        ours = [i for i in _imports(path) if i.startswith(".")]
        assert not any(i.endswith("text") or "report" in i for i in ours), path.name
    above = ("models", "plots", "report", "diagnose", "compare", "cli", "theory", "advise")
    for path in (SRC / "catalog").glob("*.py"):
        assert not any(i.lstrip(".").split(".")[0] in above for i in _imports(path) if i.startswith("..")), path.name
