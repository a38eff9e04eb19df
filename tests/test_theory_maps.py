"""The mean-field maps against mpmath integrals, closed forms and the known anchors."""
import math

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate
from scipy.special import erf
from scipy.stats import norm

import actlab
from actlab import theory
from actlab.theory import gauss

mp.mp.dps = 30


def _mp_expect(fn, q, kinks):
    """E[fn(sqrt(q) z)], z ~ N(0,1), by mpmath.quad split at the kinks."""
    r = mp.sqrt(q)
    points = [-mp.inf] + sorted(mp.mpf(k) / r for k in kinks) + [mp.inf]
    return mp.quad(lambda z: fn(r * z) * mp.exp(-z * z / 2), points) / mp.sqrt(2 * mp.pi)


def _reference(name, params=None):
    spec = actlab.spec(name)
    p = spec.formula_params(spec.resolve_params(params or {}))
    f = lambda x: spec.reference(x, **p)  # noqa: E731
    df = lambda x: mp.diff(f, x)  # noqa: E731
    return f, df, spec.kinks_at(spec.resolve_params(params or {}))


CASES = [("tanh", 1.5, 0.05), ("relu", 1.8, 0.1), ("elu", 1.5, 0.1), ("gelu", 1.5, 0.1), ("selu", 1.0, 0.0),
         ("softplus", 0.5, 0.1), ("hardtanh", 2.0, 0.05), ("silu", 2.0, 0.1), ("softsign", 2.5, 0.02),
         ("snake", 0.5, 0.1), ("softshrink", 2.0, 0.1), ("sigmoid", 2.0, 0.0)]


@pytest.mark.parametrize("name,w,b", CASES)
def test_fixed_point_and_chi1_agree_with_mpmath(name, w, b):
    f, df, kinks = _reference(name)
    q = theory.fixed_point(name, w, b)
    assert 0 < q < math.inf
    v = w * _mp_expect(lambda x: f(x) ** 2, q, kinks) + b
    assert abs(float(v) - q) <= 1e-8 * q  # q* really is a fixed point of the exact map
    chi = w * _mp_expect(lambda x: df(x) ** 2, q, kinks)
    assert theory.chi1(name, w, b) == pytest.approx(float(chi), rel=1e-8, abs=1e-12)


@pytest.mark.parametrize("name,q", [("tanh", 0.3), ("relu", 2.0), ("gelu", 5.0), ("hardshrink", 1.0),
                                    ("relu6", 30.0), ("mish", 0.01)])
def test_variance_map_agrees_with_mpmath(name, q):
    f, _, kinks = _reference(name)
    expected = 1.3 * _mp_expect(lambda x: f(x) ** 2, q, kinks) + 0.2
    assert float(theory.variance_map(name, q, 1.3, 0.2)) == pytest.approx(float(expected), rel=1e-10)


def test_relu_kernel_is_the_arc_cosine_kernel():
    # Cho & Saul (2009), degree 1: K = q/(2 pi) (sin t + (pi - t) cos t), t = arccos c
    for q in (0.5, 2.0, 7.0):
        c = np.array([-1.0, -0.7, 0.0, 0.4, 0.9, 0.999, 1.0])
        t = np.arccos(c)
        expected = q / (2 * np.pi) * (np.sin(t) + (np.pi - t) * np.cos(t))
        np.testing.assert_allclose(theory.kernel("relu", q, c), expected, rtol=1e-10, atol=1e-14)


def test_gaussian_pair_expectation_matches_williams_erf_kernel():
    # Williams (1997): E[erf(u1) erf(u2)] = 2/pi asin(2 S12 / sqrt((1 + 2 S11)(1 + 2 S22)))
    for q1, q2 in ((1.0, 1.0), (0.3, 4.0), (50.0, 2.0)):
        c = np.array([-0.95, -0.2, 0.0, 0.5, 0.999])
        expected = 2 / np.pi * np.arcsin(2 * c * math.sqrt(q1 * q2) / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
        np.testing.assert_allclose(gauss.expect2(erf, erf, q1, q2, c), expected, rtol=1e-10, atol=1e-14)


def test_identity_kernel_and_elu_kernel_against_scipy_dblquad():
    np.testing.assert_allclose(theory.kernel("identity", 2.5, [0.3, -0.6]), [0.75, -1.5], rtol=1e-12)
    q, c = 1.7, 0.6
    elu = lambda x: x if x > 0 else math.expm1(x)  # noqa: E731
    s = math.sqrt(1 - c * c)

    def integrand(z2, z1):
        return elu(math.sqrt(q) * z1) * elu(math.sqrt(q) * (c * z1 + s * z2)) * norm.pdf(z1) * norm.pdf(z2)
    expected, err = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-12, epsrel=1e-12)
    assert float(theory.kernel("elu", q, c)) == pytest.approx(expected, rel=1e-8)


def test_tanh_is_critical_at_sigma_w2_one_without_bias():
    assert theory.critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, abs=1e-12)
    assert theory.fixed_point("tanh", 0.9, 0.0) == 0.0  # the ordered phase collapses the variance
    assert theory.chi1("tanh", 0.9, 0.0) == pytest.approx(0.9, abs=1e-14)  # sigma_w2 tanh'(0)^2 in the limit


def test_tanh_edge_of_chaos_with_bias_matches_schoenholz():
    # Schoenholz et al. 2017, Fig. 1 / Poole et al. 2016: tanh at sigma_b2 = 0.05 is critical near sigma_w2 = 1.76
    assert theory.critical_sigma_w2("tanh", 0.05) == pytest.approx(1.76, abs=0.01)
    assert theory.chi1("tanh", theory.critical_sigma_w2("tanh", 0.05), 0.05) == pytest.approx(1.0, abs=1e-9)


def test_relu_only_critical_point_is_sigma_w2_two_at_zero_bias():
    assert theory.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, abs=1e-12)
    assert theory.critical_gain("relu") == pytest.approx(math.sqrt(2), abs=1e-12)
    for b in (0.01, 0.1, 1.0):
        with pytest.raises(theory.NoCriticalPoint, match="no edge of chaos"):
            theory.critical_sigma_w2("relu", b)
    # closed forms: q* = sigma_b2 / (1 - sigma_w2/2), chi_1 = sigma_w2/2; diverging beyond 2
    assert theory.fixed_point("relu", 1.5, 0.2) == pytest.approx(0.2 / (1 - 0.75), rel=1e-12)
    assert theory.chi1("relu", 1.5, 0.2) == pytest.approx(0.75, rel=1e-12)
    assert theory.fixed_point("relu", 2.5, 0.1) == math.inf
    assert theory.fixed_points("relu", 2.0, 0.0) == ()  # every variance is kept


def test_selu_with_lecun_weights_keeps_unit_variance():
    lam, alpha = 1.0507009873554805, 1.6732632423543772
    for q0 in (0.3, 1.0, 3.0):
        assert theory.fixed_point("selu", 1.0, 0.0, q0=q0) == pytest.approx(1.0, abs=1e-9)
    # chi_1 = lam^2 (1/2 + alpha^2 e^2 Phi(-2)) = 1.0716 (closed form): SELU sits slightly on the chaotic side
    expected = lam ** 2 * (0.5 + alpha ** 2 * math.e ** 2 * norm.cdf(-2.0))
    assert theory.chi1("selu", 1.0, 0.0) == pytest.approx(expected, rel=1e-10)


def test_stable_and_unstable_fixed_points_are_told_apart():
    points = theory.fixed_points("tanh", 2.0, 0.0)
    assert [p.stable for p in points] == [False, True]
    assert points[0].q == 0.0 and points[0].slope == pytest.approx(2.0)
    assert theory.fixed_point("tanh", 2.0, 0.0) == pytest.approx(points[1].q)
    # Swish: a stable and an unstable branch; above the unstable one the variance diverges
    swish = theory.fixed_points("silu", 2.2, 0.04)
    assert [p.stable for p in swish] == [True, False]
    assert theory.fixed_point("silu", 2.2, 0.04, q0=1.0) == pytest.approx(swish[0].q)
    assert theory.fixed_point("silu", 2.2, 0.04, q0=10.0) == math.inf


@pytest.mark.parametrize("name,w,b", [("tanh", 1.5, 0.05), ("elu", 1.2, 0.1), ("hardshrink", 0.8, 0.3),
                                      ("gelu", 1.5, 0.1)])
def test_depth_scales_are_the_slopes_of_the_maps(name, w, b):
    """xi_q from V'(q*) and xi_c from chi_c, against finite differences of the maps themselves."""
    q = theory.fixed_point(name, w, b)
    h = 1e-5 * q
    slope_q = (theory.variance_map(name, q + h, w, b) - theory.variance_map(name, q - h, w, b)) / (2 * h)
    xi_q, xi_c = theory.depth_scales(name, w, b)
    assert math.exp(-1 / xi_q) == pytest.approx(float(slope_q), rel=1e-6)
    if theory.correlation_fixed_point(name, w, b) == 1.0:
        dc = 1e-6
        slope_c = (1.0 - theory.correlation_map(name, 1.0 - dc, w, b)) / dc
        assert math.exp(-1 / xi_c) == pytest.approx(float(slope_c), rel=1e-4)


def test_chaotic_tanh_has_a_correlation_fixed_point_below_one():
    c_star = theory.correlation_fixed_point("tanh", 3.0, 0.1)
    assert 0 < c_star < 1
    assert float(theory.correlation_map("tanh", c_star, 3.0, 0.1)) == pytest.approx(c_star, abs=1e-10)
    assert theory.chi_c("tanh", 3.0, 0.1) < 1 < theory.chi1("tanh", 3.0, 0.1)


def test_every_elementwise_activation_gets_finite_or_flagged_numbers():
    for name in actlab.names():
        if not theory.is_elementwise(name):
            with pytest.raises(ValueError, match="not elementwise"):
                theory.chi1(name, 1.0, 0.0)
            continue
        q = theory.fixed_point(name, 1.0, 0.05)
        chi = theory.chi1(name, 1.0, 0.05)
        assert q == math.inf or (math.isfinite(q) and q >= 0), name
        assert chi >= 0 and (math.isfinite(chi) or q == math.inf), name  # inf only where q* is


def test_bad_arguments_say_what_was_expected():
    with pytest.raises(ValueError, match="sigma_w2 must be"):
        theory.chi1("tanh", -1.0, 0.0)
    with pytest.raises(ValueError, match="sigma_b2 must be"):
        theory.fixed_point("tanh", 1.0, -0.1)
    with pytest.raises(ValueError, match="correlations must lie"):
        theory.kernel("tanh", 1.0, 1.5)
    with pytest.raises(KeyError, match="did you mean"):
        theory.chi1("tahn", 1.0, 0.0)
    assert theory.chi1("elu:alpha=0.5", 1.0, 0.0) == theory.chi1("elu", 1.0, 0.0, alpha=0.5)


def test_born_dead_closed_form_values():
    assert theory.born_dead(1, 1) == 0.5
    assert theory.born_dead(2, 3) == pytest.approx(1 - 0.75 ** 3)
    with pytest.raises(ValueError, match="width must be"):
        theory.born_dead(0, 3)


def test_binary_step_kernel_is_sheppards_orthant_probability_and_c_one_repels():
    # P(u1 >= 0, u2 >= 0) = 1/4 + asin(c) / (2 pi) (Sheppard 1899)
    c = np.array([-0.9, 0.0, 0.5, 0.99])
    np.testing.assert_allclose(theory.kernel("binary_step", 1.3, c), 0.25 + np.arcsin(c) / (2 * np.pi),
                               rtol=1e-10)
    # q* = sigma_w2/2 + sigma_b2 and c* solves c = (sigma_w2 (1/4 + asin(c)/(2 pi)) + sigma_b2) / q*,
    # below 1 although chi_1 = 0: a jump decorrelates nearby inputs
    c_star = theory.correlation_fixed_point("binary_step", 1.0, 0.1)
    assert c_star == pytest.approx((0.25 + math.asin(c_star) / (2 * math.pi) + 0.1) / 0.6, abs=1e-10)
    assert c_star < 1 and theory.chi1("binary_step", 1.0, 0.1) == 0.0
