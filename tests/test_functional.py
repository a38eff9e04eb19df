"""actlab.functional: one function and one derivative per activation, bit for bit the modules' results."""
import doctest
import inspect
import math

import pytest
import torch

import actlab
import actlab.functional as AF
import actlab.modules
from actlab.catalog import DEFINITIONS, LEARNABLE

NAMES = actlab.names()
SETTINGS = [(n, s) for n in NAMES for s in DEFINITIONS[n].param_settings()]


def _elementwise(name):
    spec = DEFINITIONS[name]
    return not (spec.vector or getattr(spec, "gated", False))


def _inputs(name, dtype):
    """Ordinary values, kinks, extremes, +-inf and NaN; rows of even length for vector and gated units."""
    big = torch.finfo(dtype).max
    special = [-math.inf, -big, -1e4, -30.0, -3.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 3.0, 6.0, 30.0, 1e4, big,
               math.inf, math.nan]
    if _elementwise(name):
        return torch.tensor(special + torch.linspace(-8, 8, 161).tolist(), dtype=dtype)
    rows = torch.randn(6, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    rows[0, :4] = torch.tensor([-1e4, 0.0, 30.0, -30.0])
    rows[1, 1] = math.inf
    rows[2, 2] = math.nan
    return rows.to(dtype)


def _module_and_kwargs(name, setting):
    """The module for this setting, and the functional keywords that mean the same thing.

    A learnable parameter is passed to the function as the module's own tensor.
    """
    module = actlab.get(name, **setting).eval()
    spec = DEFINITIONS[name]
    kwargs = {}
    for q in spec.params:
        if not q.passed:
            continue
        value = setting[q.name]
        kwargs[q.name] = getattr(module, q.name) if value == LEARNABLE else value
    return module, kwargs


JACOBIAN = [n for n in NAMES if hasattr(actlab.catalog.CLASSES[n], "jvp")]


def test_every_activation_has_a_function_and_a_derivative_and_vector_ones_a_jvp():
    for name in NAMES:
        assert callable(getattr(AF, name)) and callable(getattr(AF, f"{name}_derivative")), name
        assert name in AF.__all__ and f"{name}_derivative" in AF.__all__
    assert {n for n in NAMES if DEFINITIONS[n].vector} == set(JACOBIAN)
    assert sorted(AF.__all__) == sorted(NAMES + [f"{n}_derivative" for n in NAMES] + [f"{n}_jvp" for n in JACOBIAN])


@pytest.mark.parametrize("name", JACOBIAN)
def test_jvp_equals_the_module_and_autograd(name):
    spec = DEFINITIONS[name]
    x = _inputs(name, torch.float64)[3:]  # finite rows
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for setting in spec.param_settings():
        module, kwargs = _module_and_kwargs(name, setting)
        got = AF.__dict__[f"{name}_jvp"](x, v, **kwargs)
        torch.testing.assert_close(got, module.jvp(x, v), rtol=0, atol=0, equal_nan=True)
        _, expected = torch.autograd.functional.jvp(lambda t: module(t), x, v)  # an independent route
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, setting", SETTINGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SETTINGS)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_function_and_derivative_equal_the_module_bit_for_bit(name, setting, dtype):
    module, kwargs = _module_and_kwargs(name, setting)
    x = _inputs(name, dtype)
    with torch.no_grad():
        torch.testing.assert_close(getattr(AF, name)(x, **kwargs), module(x), rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(getattr(AF, f"{name}_derivative")(x, **kwargs), module.derivative(x),
                                   rtol=0, atol=0, equal_nan=True)


def test_integer_input_is_promoted_as_by_the_module():
    x = torch.arange(-3, 4)
    y = AF.elu(x, alpha=0.5)
    assert y.dtype == torch.get_default_dtype()
    assert torch.equal(y, actlab.get("elu", alpha=0.5)(x))


def test_learnable_parameter_as_tensor_gets_the_gradient_the_module_gives():
    x = torch.linspace(-4, 4, 33, dtype=torch.float64)
    beta = torch.tensor(1.7, dtype=torch.float64, requires_grad=True)
    AF.silu(x, beta=beta).sum().backward()
    module = actlab.get("silu", beta="learnable").double()
    with torch.no_grad():
        module.beta.fill_(1.7)
    module(x).sum().backward()
    assert torch.equal(beta.grad.reshape(1), module.beta.grad)
    # d/d beta of sum x sigma(beta x) = sum x^2 sigma'(beta x), in closed form.
    s = torch.sigmoid(1.7 * x)
    torch.testing.assert_close(beta.grad, (x * x * s * (1 - s)).sum())


def test_a_number_for_an_always_learned_parameter_is_a_constant():
    x = torch.linspace(-2, 2, 9)
    y = AF.prelu(x, weight=0.3)
    assert not y.requires_grad
    assert torch.equal(y, torch.where(x > 0, x, torch.tensor(0.3) * x))
    w = torch.tensor([0.1, 0.2, 0.4])
    xc = torch.randn(2, 3, 4)
    assert torch.equal(AF.prelu(xc, weight=w), torch.nn.functional.prelu(xc, w))
    # Repeated, and differentiated in x: the slope stays a constant (no parameter anywhere gets a gradient),
    # and another value is another constant. Mixed with a tensor (APL's coefficients), numbers stay constants.
    for _ in range(2):
        xg = x.clone().requires_grad_(True)
        AF.prelu(xg, weight=0.3).sum().backward()
        assert torch.equal(xg.grad, torch.where(x > 0, 1.0, 0.3))
    assert torch.equal(AF.prelu(x, weight=0.6), torch.where(x > 0, x, torch.tensor(0.6) * x))
    frozen = [m for k, m in AF._MODULES.items() if k[0] == "prelu" and k[-1] is not None]
    assert frozen and all(not p.requires_grad and p.grad is None for m in frozen for p in m.parameters())
    a1 = torch.tensor(0.5, requires_grad=True)
    y = AF.apl(x, a1=a1, b1=1.0, a2=0.0, b2=0.0)
    y.sum().backward()
    assert a1.grad is not None


def test_positional_parameters_follow_the_definition_order():
    x = torch.linspace(-3, 3, 13)
    assert torch.equal(AF.softplus(x, 2.0, 20.0), actlab.get("softplus", beta=2.0, threshold=20.0)(x))
    with pytest.raises(TypeError, match="at most 1 positional"):
        AF.elu(x, 1.0, 2.0)
    with pytest.raises(TypeError, match="multiple values for argument 'alpha'"):
        AF.elu(x, 1.0, alpha=2.0)


def test_rrelu_is_evaluation_mode_unless_training_is_asked_for():
    x = -torch.ones(10_000)
    assert torch.equal(AF.rrelu(x), torch.full_like(x, -(1 / 8 + 1 / 3) / 2))
    slopes = -AF.rrelu(x, training=True)
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3 and slopes.std() > 0.05


def _bad_parameter_cases():
    cases = [("softplus", {"beta": -1.0}), ("celu", {"alpha": 0.0}), ("leaky_relu", {"negative_slope": -0.1}),
             ("snake", {"alpha": float("nan")}), ("elu", {"alpha": "big"}), ("relu", {"alpha": 1.0}),
             ("elu", {"alhpa": 1.0}), ("elu", {"alpha": "learnable"}), ("hardtanh", {"min_val": 2.0}),
             ("rrelu", {"lower": 0.5, "upper": 0.1})]
    for name in NAMES:  # every bounded parameter, just outside its range
        for q in DEFINITIONS[name].params:
            if q.passed and q.kind is float and math.isfinite(q.low) and not q.always_learned:
                cases.append((name, {q.name: q.low - 1.0}))
    return cases


@pytest.mark.parametrize("name, params", _bad_parameter_cases())
def test_validation_errors_are_the_modules_errors(name, params):
    with pytest.raises(ValueError) as from_module:
        actlab.get(name, **params)
    with pytest.raises(ValueError) as from_function:
        getattr(AF, name)(torch.zeros(4), **params)
    with pytest.raises(ValueError) as from_derivative:
        getattr(AF, f"{name}_derivative")(torch.zeros(4), **params)
    assert str(from_function.value) == str(from_module.value) == str(from_derivative.value)


def test_function_specific_refusals_say_what_to_do():
    with pytest.raises(ValueError, match=r"actlab.get\('silu', beta='learnable'\)"):
        AF.silu(torch.zeros(2), beta="learnable")
    with pytest.raises(ValueError, match="takes the tensor itself"):
        AF.prelu(torch.zeros(2), num_parameters=3)


def test_signatures_show_the_defaults():
    assert str(inspect.signature(AF.elu)) == "(x, alpha=1.0)"
    assert str(inspect.signature(AF.leaky_relu_derivative)) == "(x, negative_slope=0.01)"
    assert str(inspect.signature(AF.rrelu)) == "(x, lower=0.125, upper=0.3333333333333333, *, training=False)"
    assert str(inspect.signature(AF.prelu)) == "(x, weight=0.25)"  # num_parameters shapes a module only
    for name in NAMES:
        params = inspect.signature(getattr(AF, name)).parameters
        for q in DEFINITIONS[name].params:
            if q.passed:
                assert params[q.name].default == q.default or (q.default is None and params[q.name].default is None)


DOCUMENTED = [getattr(AF, n) for n in AF.__all__] + [getattr(actlab.modules, DEFINITIONS[n].class_name) for n in NAMES]


@pytest.mark.parametrize("obj", DOCUMENTED, ids=[o.__name__ for o in DOCUMENTED])
def test_docstrings_carry_formula_example_see_also_and_edges(obj):
    doc = obj.__doc__
    for section in (".. math::", "Examples:", "See also:", "Edge behaviour:", "NaN in gives NaN out"):
        assert section in doc, (obj.__name__, section)


@pytest.mark.parametrize("obj", DOCUMENTED, ids=[o.__name__ for o in DOCUMENTED])
def test_docstring_examples_run_and_print_what_they_say(obj):
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder(recurse=False).find(obj, obj.__name__, globs={}):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_module_docstring_example_runs():
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder(recurse=False).find(AF, AF.__name__, globs={}):
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, 3)


@pytest.mark.parametrize("name, text", [
    # One-sided slopes from the closed forms; the value at the kink is PyTorch's backward's.
    ("relu", "f'(0) = 0: the slope is 0 from the left and 1 from the right."),
    ("leaky_relu", "f'(0) = 0.01: the slope is 0.01 from the left and 1 from the right."),
    ("hardswish", "f'(-3) = 0: the slope is 0 from the left and -0.5 from the right."),
    ("hardswish", "f'(3) = 1: the slope is 1.5 from the left and 1 from the right."),
    ("relu6", "f'(6) = 0: the slope is 1 from the left and 0 from the right."),
    ("elu", "f'(0) = 1; f' is continuous there"),
    ("softplus", "Limits: f(-inf) = 0, f(inf) = inf; f'(-inf) = 0, f'(inf) = 1."),
    ("sigmoid", "Limits: f(-inf) = 0, f(inf) = 1; f'(-inf) = 0, f'(inf) = 0."),
    ("gelu", "its default approximate=True is a different function"),
    ("leaky_relu", "Keras: ``keras.layers.LeakyReLU()`` (default negative_slope=0.3; actlab's"),
])
def test_edge_behaviour_and_framework_defaults_are_stated(name, text):
    doc = " ".join(AF.__dict__[name].__doc__.split())
    assert " ".join(text.split()) in doc


def test_see_also_points_both_ways_and_to_the_family():
    assert "actlab.functional.elu:" in actlab.modules.ELU.__doc__
    assert "actlab.modules.CELU" in actlab.modules.ELU.__doc__
    assert "actlab.modules.ELU:" in AF.elu.__doc__ and "actlab.functional.celu" in AF.elu.__doc__


def test_tensor_parameters_from_several_threads_do_not_mix():
    from concurrent.futures import ThreadPoolExecutor

    x = torch.linspace(-3, 3, 10_001, dtype=torch.float64)
    betas = [torch.tensor(b, dtype=torch.float64) for b in (0.5, 1.0, 2.0, 4.0)] * 8

    def run(beta):
        return torch.equal(AF.silu(x, beta=beta), x * torch.sigmoid(beta * x))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, betas))


def test_a_repeated_call_reuses_its_module_without_validating_again(monkeypatch):
    """Binding and validating a call's parameters costs more than a small tensor's activation, so a call given
    the same plain parameters the same way reuses the module it resolved to; anything else is validated anew:
    new values, bad values (never remembered), 1 against 1.0 (equal keys, other types) and tensors (never
    remembered: the call must follow each tensor's value)."""
    from actlab.catalog.spec import Activation

    validated = []
    real = Activation.resolve_params
    monkeypatch.setattr(Activation, "resolve_params", lambda self, p: validated.append(dict(p)) or real(self, p))
    x = torch.linspace(-3, 3, 7)
    first = AF.elu(x, alpha=0.3125)
    assert validated and all(v == {"alpha": 0.3125} for v in validated)  # the function's, the new module's
    validated.clear()
    for _ in range(3):
        assert torch.equal(AF.elu(x, alpha=0.3125), first)
    assert validated == []
    for _ in range(2):
        with pytest.raises(ValueError, match="alpha"):
            AF.celu(x, alpha=0.0)
    assert len(validated) >= 2
    validated.clear()
    AF.elu(x, alpha=7)  # values no other test uses: each function remembers its calls per process
    assert validated and type(validated[0]["alpha"]) is int
    validated.clear()
    AF.elu(x, alpha=7.0), AF.elu(x, alpha=7.0)
    assert validated and all(type(v["alpha"]) is float for v in validated)
    count = len(validated)
    AF.elu(x, alpha=7.0)
    assert len(validated) == count
    beta = torch.tensor(1.0)
    one = AF.silu(x, beta=beta)
    beta.fill_(2.0)
    validated.clear()
    two = AF.silu(x, beta=beta)
    assert validated
    torch.testing.assert_close(two, x * torch.sigmoid(2.0 * x))
    assert not torch.equal(one, two)
