"""`actlab theory`, the phase diagram and its figure, and init="critical"."""
import json
import math

import matplotlib.image as mpimg
import pytest
import torch

from actlab import theory
from actlab.cli import main
from actlab.models import build_model


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_theory_text_names_every_quantity(capsys):
    assert main(["theory", "tanh", "--sigma-b2", "0.05"]) == 0
    out = capsys.readouterr().out
    for word in ("q*", "chi_1", "xi_q, xi_c", "trainable depth", "6 xi_c", "edge of chaos", "gain"):
        assert word in out
    assert "sigma_w^2 = 1.76" in out  # Schoenholz et al. 2017, Fig. 1


def test_theory_json_holds_the_anchors(capsys):
    tanh = _json(capsys, ["theory", "tanh", "--json"])
    assert tanh["critical_sigma_w2"] == pytest.approx(1.0, abs=1e-12)
    relu = _json(capsys, ["theory", "relu", "--sigma-w2", "2", "--json"])
    assert relu["chi1"] == pytest.approx(1.0) and relu["phase"] == "critical"
    diverging = _json(capsys, ["theory", "relu", "--sigma-w2", "3", "--sigma-b2", "0.1", "--json"])
    assert diverging["q_star"] == "inf" and diverging["critical_sigma_w2"] is None
    assert "q* diverges" in diverging["critical_reason"]
    elu = _json(capsys, ["theory", "elu:alpha=0.5", "--json"])
    assert elu["activation"] == "elu:alpha=0.5"
    assert elu["chi1"] == pytest.approx((1 + 0.25) / 2)  # q* = 0: mean of elu'(0-)^2 = 0.25 and elu'(0+)^2 = 1


@pytest.mark.parametrize("argv,message", [
    (["theory", "gelus"], "did you mean"),
    (["theory", "softmax"], "not elementwise"),
    (["theory", "swiglu"], "not elementwise"),
    (["theory", "tanh", "--sigma-w2", "-1"], "--sigma-w2 must be"),
    (["theory", "tanh", "--sigma-w2", "1,2"], "lists are for 'trainability'"),
    (["theory", "relu", "--jacobian", "--depth", "0"], "--depth must be"),
    (["theory", "trainability", "--depths", "x"], "--depths"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_jacobian_command_prints_predicted_and_sampled(capsys, tmp_path):
    data = _json(capsys, ["theory", "relu", "--jacobian", "--depth", "4", "--width", "120", "--json",
                          "--out", str(tmp_path)])
    assert data["sigma_w2"] == pytest.approx(2.0)  # the critical value by default
    # Pennington et al. 2017: ReLU at chi_1 = 1 has mean 1 and variance 2L (Gaussian), L (orthogonal)
    assert data["spectrum"]["gaussian"]["predicted_variance"] == pytest.approx(8.0)
    assert data["spectrum"]["orthogonal"]["predicted_variance"] == pytest.approx(4.0)
    assert mpimg.imread(data["figure"]).shape[0] > 100


def test_phase_diagram_regions_critical_line_and_figure(capsys, tmp_path):
    d = theory.phase_diagram("tanh", sigma_w2=[0.5, 1.5, 3.0], sigma_b2=[0.0, 0.05])
    assert [theory.PHASES[p] for p in d.phase[0]] == ["ordered", "chaotic", "chaotic"]
    assert [theory.PHASES[p] for p in d.phase[1]] == ["ordered", "ordered", "chaotic"]
    assert d.critical[0] == pytest.approx(1.0, abs=1e-12)
    assert math.isfinite(d.xi_c[1, 1]) and d.xi_c[1, 1] > d.xi_c[1, 0]  # xi_c grows toward the critical line
    relu = theory.phase_diagram("relu", sigma_w2=[1.0, 2.5], sigma_b2=[0.0, 0.2])
    assert theory.PHASES[relu.phase[1, 1]] == "diverging" and math.isnan(relu.critical[1])
    assert main(["theory", "gelu", "--phase-diagram", "--resolution", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "critical line" in out
    image = mpimg.imread(tmp_path / "phase-gelu.png")
    assert image.shape[0] > 200 and image.std() > 0.05  # a drawn figure, not a blank canvas


def test_init_critical_uses_the_edge_of_chaos_gain():
    for name, gain in (("tanh", 1.0), ("relu", math.sqrt(2.0))):  # anchors: tanh 1, ReLU He's sqrt(2)
        model = build_model("mlp", name, init="critical", depth=2, width=512, seed=0, dropout=False)
        weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
        hidden = weights[1]
        assert hidden.std().item() * math.sqrt(hidden.shape[1]) == pytest.approx(gain, rel=0.02)
    with pytest.raises(ValueError, match="init 'critical' is not available for gelu"):
        build_model("mlp", "gelu", init="critical")


def test_docstring_examples_hold():
    import doctest
    import importlib

    for part in ("", ".gauss", ".meanfield", ".critical", ".dead", ".jacobian", ".phase", ".summary"):
        module = importlib.import_module("actlab.theory" + part)
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0, module.__name__
