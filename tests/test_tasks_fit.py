"""The fit task (library): grids, and the difference in kind between a saturating and a piecewise-linear net.

Expected values come from closed forms: a ReLU network is piecewise linear,
so outside its last kink it follows a straight line, and no straight line is
within RMSE 0.44 of sin over a period (the best one, the least-squares line
on [2 pi, 4 pi], leaves mean square 1/2 - 3/pi^2); a tanh network tends to
constants, as the bump exp(-x^2/2) does (to 0) outside the box.
"""
import math
import xml.etree.ElementTree as ET

import pytest
import torch

from actlab.report.fit import fit_section
from actlab.tasks import get
from actlab.tasks.fit import TARGETS, fit_data, fitted_curves, train_fit


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_grids_split_inside_and_outside_the_box():
    d = fit_data("sine")
    assert d.train_x.shape == (100, 1) and d.val_x.shape == (100, 1)
    assert d.train_x.abs().max() <= 2 * math.pi + 1e-6 and d.test_in_x.abs().max() < 2 * math.pi
    out = d.test_out_x.abs()[:, 0]
    assert out.min() > 2 * math.pi and out.max() <= 4 * math.pi + 1e-6
    assert torch.allclose(d.test_out_y, torch.sin(d.test_out_x[:, 0]), atol=1e-5)
    d2 = fit_data("ripple2d", points=10)
    assert d2.train_x.shape == (50, 2)
    assert torch.allclose(d2.test_out_y, torch.sin(d2.test_out_x[:, 0]) * torch.cos(d2.test_out_x[:, 1]), atol=1e-5)
    assert set(TARGETS) == {"sine", "gauss", "ripple2d"}
    assert get("fit").kind == "regression" and get("fit").direction == "min"
    with pytest.raises(ValueError, match="unknown fit target"):
        fit_data("cosh")


def test_relu_extrapolates_linearly_and_tanh_saturates():
    sine = fit_data("sine")
    relu_sine = train_fit(sine, "relu", steps=1500)
    assert relu_sine.in_range < 0.15  # it interpolates
    assert relu_sine.out_of_range > math.sqrt(0.5 - 3 / math.pi ** 2)  # no line follows sin over a period
    bump = fit_data("gauss")
    relu, tanh = (train_fit(bump, a, steps=1500) for a in ("relu", "tanh"))
    assert relu.in_range < 0.05 and tanh.in_range < 0.05
    assert tanh.out_of_range < relu.out_of_range / 3
    section = fit_section(fitted_curves(bump, [relu, tanh]), bump.target.inner)
    ET.fromstring(section)
    assert "relu" in section and "tanh" in section
