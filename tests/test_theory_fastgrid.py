"""The vectorised phase grid against the precise per-point mean-field functions."""
import math
import time

import numpy as np
import pytest

from actlab import theory
from actlab.theory.fastgrid import fast_phase_diagram
from actlab.theory.phase import CHAOTIC, DIVERGING, ORDERED

W = np.linspace(0.25, 4.0, 24)  # the default grid of phase_diagram
B = np.linspace(0.0, 0.5, 11)
# (row, column) samples: both phases, sigma_b2 = 0 and > 0, near and far from the edge
SAMPLES = [(0, 2), (0, 9), (0, 20), (2, 5), (5, 11), (7, 16), (10, 0), (10, 23)]


@pytest.mark.parametrize("name", ["tanh", "relu", "elu", "selu", "gelu", "silu", "softplus", "sigmoid"])
def test_q_star_and_chi1_equal_the_precise_functions(name):
    d = fast_phase_diagram(name)
    assert d.q_star.shape == d.chi1.shape == d.phase.shape == d.xi_c.shape == (len(B), len(W))
    for i, j in SAMPLES:
        w, b = float(W[j]), float(B[i])
        q, chi = theory.fixed_point(name, w, b), theory.chi1(name, w, b)
        if math.isinf(q):
            assert math.isinf(d.q_star[i, j]) and d.phase[i, j] == DIVERGING, (name, w, b)
        else:
            assert d.q_star[i, j] == pytest.approx(q, rel=1e-6, abs=1e-300), (name, w, b)
            assert d.phase[i, j] == (ORDERED if chi < 1.0 else CHAOTIC), (name, w, b)
        assert d.chi1[i, j] == pytest.approx(chi, rel=1e-6), (name, w, b)
        if d.phase[i, j] == ORDERED:  # c* = 1 there, so xi_c = -1 / log chi_1 is the precise xi_c
            assert d.xi_c[i, j] == pytest.approx(theory.depth_scales(name, w, b)[1], rel=1e-6), (name, w, b)


def test_tanh_critical_line_passes_sigma_w2_one_at_zero_bias():
    d = fast_phase_diagram("tanh")
    step = W[1] - W[0]
    assert abs(d.critical[0] - 1.0) <= step  # exactly 1 in theory (critical_sigma_w2("tanh", 0) == 1)
    # and stays within a grid step of the exact line at larger bias
    for i in (5, 10):
        assert abs(d.critical[i] - theory.critical_sigma_w2("tanh", float(B[i]))) <= step


def test_relu_phases_are_the_closed_form():
    # ReLU: chi_1 = sigma_w2 / 2; q* = sigma_b2 / (1 - sigma_w2 / 2) below 2, divergent above (b > 0)
    d = fast_phase_diagram("relu", sigma_w2=[1.0, 1.5, 2.5], sigma_b2=[0.1, 0.3])
    np.testing.assert_allclose(d.chi1[:, :2], [[0.5, 0.75], [0.5, 0.75]], rtol=1e-9)
    np.testing.assert_allclose(d.q_star[:, :2], [[0.2, 0.4], [0.6, 1.2]], rtol=1e-9)
    assert (d.phase[:, 2] == DIVERGING).all() and np.isnan(d.critical).all()


def test_whole_default_grid_is_fast():
    start = time.perf_counter()
    fast_phase_diagram("gelu")
    assert time.perf_counter() - start < 5.0  # ~0.2 s alone on the 2-core dev box; slack for shared CPUs


def test_bad_grid_and_vector_activation_are_refused():
    with pytest.raises(ValueError, match="sigma_w2 must be"):
        fast_phase_diagram("tanh", sigma_w2=[0.0, 1.0])
    with pytest.raises(ValueError, match="not elementwise"):
        fast_phase_diagram("softmax")


def test_every_elementwise_activation_matches_at_a_middle_point():
    """The catalog site draws a panel for each of these; one middle grid point of each against the precise code."""
    from actlab.catalog import DEFINITIONS

    names = [n for n in DEFINITIONS if theory.is_elementwise(n)]
    assert len(names) > 40
    for name in names:
        d = fast_phase_diagram(name, sigma_w2=[1.5], sigma_b2=[0.1])
        q = theory.fixed_point(name, 1.5, 0.1)
        if math.isinf(q):
            assert math.isinf(d.q_star[0, 0]), name
        else:
            assert d.q_star[0, 0] == pytest.approx(q, rel=1e-6, abs=1e-300), name
            assert d.chi1[0, 0] == pytest.approx(theory.chi1(name, 1.5, 0.1), rel=1e-6), name
