"""Framework parity, checked in code: actlab against jax.nn, Keras 3 (on JAX) and torch.nn.

Every counterpart in actlab.catalog.frameworks.FRAMEWORKS is called on a
float64 grid with every parameter setting of the definition that it can
express, and must agree within a few ulps; every default written in the table
is checked against the framework's own signature and, where it selects a
function, against the framework's output. The table is the one the
docstrings' "Frameworks" lines are generated from, so the docs cannot drift
from what the frameworks do.
"""
import importlib
import inspect
import math
import os

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 runs on the JAX CPU wheel installed with the test extra

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import mpmath as mp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import actlab  # noqa: E402

keras.config.set_floatx("float64")  # Keras' ops otherwise compute in float32
from actlab.catalog import DEFINITIONS, LEARNABLE  # noqa: E402
from actlab.catalog.frameworks import FRAMEWORKS, counterparts  # noqa: E402

EPS = np.finfo(np.float64).eps
ULPS = 4
# XLA on CPU flushes subnormal results to zero; PyTorch keeps them. Below the smallest normal
# number the two are treated as equal (the difference is not a definition's).
TINY = np.finfo(np.float64).tiny

# Only activations in the catalog: the table may name some before their definition lands.
CASES = [(name, c) for name in actlab.names() for c in counterparts(DEFINITIONS[name])]
IDS = [f"{name}-{c.framework}-{c.name}" for name, c in CASES]


def _load(dotted: str):
    module, _, attr = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _is_class(c) -> bool:
    return inspect.isclass(_load(c.name))


def _framework_params(name, c, setting) -> dict:
    spec = DEFINITIONS[name]
    kw = dict(c.args)
    for k, v in setting.items():
        if k not in c.fixed and spec.param(k).passed:
            kw[c.rename.get(k, k)] = v
    return kw


def _run_framework(c, x: np.ndarray, kw: dict) -> np.ndarray:
    fn = _load(c.name)
    if c.framework == "PyTorch":
        t = torch.from_numpy(x)
        with torch.no_grad():
            return fn(**kw).double().eval()(t).numpy() if _is_class(c) else fn(t, **kw).numpy()
    if _is_class(c):  # a Keras layer: in float64, not its float32 default policy
        return np.asarray(fn(**kw, dtype="float64")(jnp.asarray(x)))
    return np.asarray(fn(jnp.asarray(x), **kw))


def _run_actlab(name, x: np.ndarray, setting: dict) -> np.ndarray:
    with torch.no_grad():
        return actlab.get(name, **setting).eval()(torch.from_numpy(x)).numpy()


def _grid(name, setting) -> np.ndarray:
    spec = DEFINITIONS[name]
    if spec.vector:  # rows of 8 (even, for gated units), ordinary and large scores
        rng = np.random.default_rng(0)
        rows = rng.normal(size=(32, 8)) * np.repeat([1.0, 5.0, 30.0, 300.0], 8)[:, None]
        return rows
    kinks = list(spec.kinks_at(actlab.spec(name).resolve_params(setting)))
    extra = [-1e4, -1e3, -100.0, 100.0, 1e3, 1e4, -0.0, 0.0] + kinks + [k - 1e-9 * max(1.0, abs(k)) for k in kinks]
    return np.concatenate([np.linspace(-30, 30, 6001), extra])


def _settings(name, c) -> list[dict]:
    """The definition's settings that the framework can express.

    Its fixed values, nothing learned, and no None passed on (actlab's softplus threshold=None,
    the exact value, has no spelling in torch.nn.Softplus, whose threshold is a number).
    """
    out = []
    for s in DEFINITIONS[name].param_settings():
        if LEARNABLE in s.values() or any(s.get(k) != v for k, v in c.fixed.items()):
            continue
        if any(v is None for k, v in s.items() if k not in c.fixed):
            continue
        out.append(s)
    return out


def _agrees(name, c, x, got, want) -> np.ndarray:
    """Where the framework's result agrees with actlab's, elementwise.

    Both are within a few ulps of the exact value: the framework's ulps (of its own dtype:
    Keras' tanh returns float32 for float64 input) relative to |f(x)|, or to |x| where the table
    says its formula cancels; actlab's within the precision its definition declares (measured
    against mpmath in tests/test_catalog_verify.py). XLA flushes subnormal results to zero.
    """
    spec = DEFINITIONS[name]
    scale = np.abs(want)
    if c.cancels:
        scale = np.maximum(scale, np.abs(x) if not spec.vector else np.abs(x).max(-1, keepdims=True))
    rtol, atol = spec.precision
    with np.errstate(invalid="ignore"):  # inf - inf where both overflow alike
        err = np.abs(got - want)
        bound = ULPS * np.finfo(got.dtype).eps * scale + rtol * np.abs(want) + atol
        return (got == want) | (err <= bound) | (err <= TINY)


def test_every_table_entry_names_a_catalog_activation():
    for key in FRAMEWORKS:
        assert actlab.resolve(key), key
    assert len(CASES) >= 60  # the table is in use, not silently orphaned


def test_settings_exist_for_every_counterpart():
    for name, c in CASES:
        assert _settings(name, c), (name, c.name, "no setting of the definition matches the framework's fixed values")


@pytest.mark.parametrize("name, c", CASES, ids=IDS)
def test_values_equal_the_framework_within_a_few_ulps(name, c):
    for setting in _settings(name, c):
        x = _grid(name, setting)
        got, want = _run_framework(c, x, _framework_params(name, c, setting)), _run_actlab(name, x, setting)
        assert got.shape == want.shape
        bad = ~_agrees(name, c, x, got, want)
        assert not bad.any(), (name, setting, c.name, x[bad][:5] if x.shape == bad.shape else "row",
                               got[bad][:5], want[bad][:5])


@pytest.mark.parametrize("name, c", [(n, c) for n, c in CASES if c.cancels],
                         ids=[i for i, (n, c) in zip(IDS, CASES) if c.cancels])
def test_where_the_framework_cancels_actlab_is_the_closer_to_mpmath(name, c):
    spec = DEFINITIONS[name]
    setting = _settings(name, c)[0]
    x = _grid(name, setting)
    got, want = _run_framework(c, x, _framework_params(name, c, setting)), _run_actlab(name, x, setting)
    worst = np.argsort(-np.abs(got - want) / np.maximum(np.abs(want), 1e-300))[:5]
    assert np.abs(got - want)[worst].max() > 0, "no disagreement left: drop `cancels` from the table entry"
    with mp.workdps(50):
        for i in worst:
            ref = spec.reference(mp.mpf(float(x[i])), **spec.formula_params(spec.resolve_params(setting)))
            mine, theirs = mp.mpf(float(want[i])), mp.mpf(float(got[i]))
            assert abs(mine - ref) <= abs(theirs - ref), (name, x[i], want[i], got[i], ref)
            rtol, atol = spec.precision  # actlab's own bound, measured in tests/test_catalog_verify.py
            assert abs(mine - ref) <= rtol * abs(ref) + atol, (name, x[i], want[i], ref)


def _parameters(c):
    """The framework's own parameters (for a function, all but the input)."""
    params = list(inspect.signature(_load(c.name)).parameters.values())
    return params if _is_class(c) else params[1:]


DEFAULTS = [(n, c) for n, c in CASES if c.defaults]


@pytest.mark.parametrize("name, c", DEFAULTS, ids=[f"{n}-{c.framework}-{c.name}" for n, c in DEFAULTS])
def test_documented_defaults_are_the_frameworks(name, c):
    params = {p.name: p.default for p in _parameters(c)}
    for arg, value in c.defaults.items():
        assert params[arg] == value, (c.name, arg, params[arg], value)
    # Called with only the arguments that select the definition, the framework's defaults apply:
    # the result is actlab's at those defaults.
    spec = DEFINITIONS[name]
    to_actlab = {c.rename.get(q.name, q.name): q.name for q in spec.params}
    setting = dict(spec.defaults(), **c.fixed, **{to_actlab[a]: v for a, v in c.defaults.items() if a in to_actlab})
    x = _grid(name, setting)
    got, want = _run_framework(c, x, dict(c.args)), _run_actlab(name, x, setting)
    bad = ~_agrees(name, c, x, got, want)
    assert not bad.any(), (name, c.name, setting)


X = np.linspace(-8, 8, 1601)


def test_jax_gelu_defaults_to_the_tanh_form_not_the_exact_one():
    jax_default = np.asarray(jax.nn.gelu(jnp.asarray(X)))
    exact, tanh_form = _run_actlab("gelu", X, {}), _run_actlab("gelu_tanh", X, {})
    assert np.abs(jax_default - tanh_form).max() <= ULPS * EPS * 8
    assert np.abs(jax_default - exact).max() > 1e-4  # the two GELUs differ by up to ~5e-4 (Hendrycks & Gimpel)
    assert np.abs(np.asarray(keras.activations.gelu(jnp.asarray(X))) - exact).max() <= ULPS * EPS * 8
    assert torch.equal(torch.nn.GELU()(torch.from_numpy(X)), actlab.get("gelu")(torch.from_numpy(X)))


def test_leaky_relu_slopes_differ_between_frameworks():
    x = np.array([-5.0, 5.0])
    assert actlab.spec("leaky_relu").param("negative_slope").default == 0.01
    assert np.asarray(jax.nn.leaky_relu(jnp.asarray(x))).tolist() == [-0.05, 5.0]
    assert torch.nn.LeakyReLU()(torch.from_numpy(x)).tolist() == [-0.05, 5.0]
    assert np.asarray(keras.activations.leaky_relu(jnp.asarray(x))).tolist() == [-1.0, 5.0]  # Keras 3: 0.2
    assert keras.layers.LeakyReLU(dtype="float64")(jnp.asarray(x)).tolist() == [-1.5, 5.0]  # layer: 0.3


def test_pytorch_softplus_threshold_is_not_actlabs_exact_default():
    x = torch.tensor([20.5], dtype=torch.float64)
    torch_default = torch.nn.Softplus()(x)
    assert torch_default.item() == 20.5  # PyTorch returns x itself above beta x > 20
    exact = actlab.get("softplus")(x)
    assert exact.item() == pytest.approx(20.5 + math.log1p(math.exp(-20.5)), rel=1e-15)
    assert torch.equal(actlab.get("softplus", threshold=20.0)(x), torch_default)
