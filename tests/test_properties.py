"""Computed properties: they agree with every declaration and with known facts."""
import math

import mpmath as mp
import pytest

import actlab
from actlab.catalog import DEFINITIONS
from actlab.catalog.properties import compute


def _sig(t):
    return 1 / (1 + mp.exp(-t))


@pytest.mark.parametrize("name", actlab.names())
def test_declared_properties_agree_with_computed(name):
    spec = DEFINITIONS[name]
    p = compute(name)
    lo, hi = spec.bounds
    for declared, got in ((lo, p.inf), (hi, p.sup)):
        if math.isinf(declared):
            assert got == declared, f"{name}: declared bound {declared}, computed {got}"
        else:  # declared bounds are rounded to 4 digits
            assert got == pytest.approx(declared, abs=1e-3), f"{name}: declared {declared}, computed {got}"
    assert (p.monotonic in ("increasing", "decreasing")) == spec.monotonic, name
    assert p.smoothness == spec.smoothness, name
    assert sorted(p.kinks) == pytest.approx(sorted(spec.kinks_at(spec.defaults())), abs=1e-9), name


def test_sigmoid_has_max_slope_one_quarter_at_zero():
    p = compute("sigmoid")
    assert p.max_slope == pytest.approx(0.25, abs=1e-12)
    assert abs(p.argmax_slope) < 1e-6
    assert (p.inf, p.sup, p.inf_attained, p.sup_attained) == (0.0, 1.0, False, False)
    assert p.range_text() == "(0, 1)"


def test_zero_centred_means_small_mean_relative_to_spread():
    tanh, relu = compute("tanh"), compute("relu")
    assert tanh.zero_centred and abs(tanh.mean) < 1e-15
    assert not relu.zero_centred
    # closed forms for z ~ N(0, 1): E relu(z) = 1/sqrt(2 pi), Var = 1/2 - 1/(2 pi)
    assert relu.mean == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-12)
    assert relu.var == pytest.approx(0.5 - 1 / (2 * math.pi), rel=1e-12)
    # E[z Phi(z)] = E[phi(z)] = 1 / (2 sqrt(pi))
    assert compute("gelu").mean == pytest.approx(1 / (2 * math.sqrt(math.pi)), rel=1e-12)


def test_dead_regions_are_exact_zeros_of_the_derivative_not_underflow():
    assert compute("relu").dead == ((-math.inf, 0.0),)
    assert compute("relu6").dead == ((-math.inf, 0.0), (6.0, math.inf))
    assert compute("softshrink:lambd=0.25").dead == ((-0.25, 0.25),)
    # tanh' and ELU' underflow to 0 far out; that is not a dead region
    for name in ("tanh", "elu", "gelu_tanh", "leaky_relu", "sigmoid"):
        assert compute(name).dead == (), name


def test_silu_minimum_matches_mpmath_root_of_the_derivative():
    with mp.workdps(30):
        root = mp.findroot(lambda t: mp.diff(lambda u: u * _sig(u), t), -1.3)
        value = root * _sig(root)
    (ext,) = compute("silu").extrema
    assert ext.kind == "min"
    assert ext.x == pytest.approx(float(root), abs=1e-12)
    assert ext.value == pytest.approx(float(value), abs=1e-15)
    assert compute("silu").inf_attained


@pytest.mark.parametrize("name, guess, reference", [
    ("gelu", -0.75, lambda u: u * mp.ncdf(u)),
    ("mish", -1.2, lambda u: u * mp.tanh(mp.log1p(mp.exp(u)))),
])
def test_other_gated_minima_match_mpmath(name, guess, reference):
    with mp.workdps(30):
        root = mp.findroot(lambda t: mp.diff(reference, t), guess)
    (ext,) = compute(name).extrema
    assert ext.x == pytest.approx(float(root), abs=1e-10)
    assert ext.value == pytest.approx(float(reference(root)), abs=1e-14)


def test_selu_maps_standard_normal_to_zero_mean_unit_variance():
    ref = DEFINITIONS["selu"].reference
    with mp.workdps(25):
        density = lambda z: mp.npdf(z)  # noqa: E731
        mean = mp.quad(lambda z: ref(z) * density(z), [-mp.inf, 0, mp.inf])
        second = mp.quad(lambda z: ref(z) ** 2 * density(z), [-mp.inf, 0, mp.inf])
    p = compute("selu")
    assert abs(float(mean)) < 1e-9 and float(second - mean ** 2) == pytest.approx(1, abs=1e-9)
    assert p.mean == pytest.approx(float(mean), abs=1e-12)
    assert p.var == pytest.approx(float(second - mean ** 2), abs=1e-12)
    assert p.zero_centred


@pytest.mark.parametrize("alpha", [0.2, 0.5, 2.0])
def test_elu_lower_bound_follows_alpha(alpha):
    p = compute("elu", alpha=alpha)
    assert p.inf == pytest.approx(-alpha, rel=1e-12) and not p.inf_attained
    assert p.smoothness == "C0"  # f' jumps from alpha to 1 at 0 unless alpha = 1
    assert compute(f"elu:alpha={alpha}") == p


def test_elu_and_celu_are_c1_where_their_slopes_match():
    assert compute("elu").smoothness == "C1"
    assert compute("celu", alpha=2.0).smoothness == "C1"
    assert compute("celu", alpha=2.0).inf == pytest.approx(-2.0)


def test_tiny_jumps_of_pytorch_softplus_threshold_are_ignored():
    assert compute("softplus", threshold=20.0).smoothness == "smooth"


def test_parameters_move_kinks_and_bounds():
    p = compute("hardtanh:min_val=-0.1:max_val=0.1")
    assert (p.inf, p.sup, p.inf_attained, p.sup_attained) == (-0.1, 0.1, True, True)
    assert p.kinks == pytest.approx((-0.1, 0.1))
    assert compute("squareplus", b=0.0).smoothness == "C0"  # b = 0 is ReLU


def test_identity_near_origin_and_saturation():
    assert compute("tanh").identity_near_0 and compute("elu").identity_near_0
    for name in ("relu", "selu", "gelu", "leaky_relu"):
        assert not compute(name).identity_near_0, name
    assert compute("sigmoid").saturation_text() == "both"
    assert compute("relu").saturation_text() == "left"
    assert compute("logsigmoid").saturation_text() == "right"
    assert compute("snake").saturation_text() == "no"  # f' = 1 + sin(2x) never settles


def test_binary_step_is_discontinuous_with_attained_bounds():
    p = compute("binary_step")
    assert p.smoothness == "discontinuous" and p.range_text() == "[0, 1]"
    assert p.dead == ((-math.inf, math.inf),)


def test_softmax_properties_are_those_of_sigmoid_of_x_over_t():
    p = compute("softmax:temperature=2")
    assert "first component" in p.note
    assert p.max_slope == pytest.approx(1 / 8, abs=1e-12)
    assert p.mean == pytest.approx(0.5, abs=1e-12) and p.monotonic == "increasing"


def test_row_has_the_list_columns():
    row = compute("relu").as_row()
    assert row == {"name": "relu", "family": "rectifier", "range": "[0, inf)", "monotonic": "increasing",
                   "smooth": "C0", "zero-centred": "no", "identity near 0": "no", "saturates": "left",
                   "cost": "n/a"}


def test_bad_input_gives_the_catalog_errors():
    with pytest.raises(ValueError, match="outside its valid range"):
        compute("elu", alpha=-1)
    with pytest.raises(ValueError, match="unknown activation"):
        compute("nosuch")
