"""One activation, one label: defaults omitted, numbers normalised, bad parameters refused (issue 10)."""
import pytest

import actlab
from actlab.compare.sweep import SweepError, build_study, parse_activations


@pytest.mark.parametrize("spelling", ["elu", "elu:alpha=1", "elu:alpha=1.0", "ELU:alpha=1e0", "elu:1"])
def test_default_parameters_are_omitted(spelling):
    # ELU's default alpha is 1 (Clevert et al. 2015; torch.nn.ELU(alpha=1.0)).
    assert actlab.label(spelling) == "elu"


def test_numbers_are_normalised():
    assert actlab.label("elu:alpha=0.50") == actlab.label("elu:alpha=.5") == "elu:alpha=0.5"
    assert actlab.label("elu:alpha=2.0") == actlab.label("elu:alpha=2") == "elu:alpha=2"
    # PyTorch's default negative slope is 0.01, so 0.2 stays and 0.01 goes.
    assert actlab.label("leaky_relu:0.2") == "leaky_relu:negative_slope=0.2"
    assert actlab.label("leaky_relu:negative_slope=0.010") == "leaky_relu"


@pytest.mark.parametrize("bad", ["elu:alpha=inf", "elu:alpha=-inf", "elu:alpha=nan", "elu:alpha=1e999"])
def test_non_finite_parameters_are_refused_with_the_range(bad):
    with pytest.raises(ValueError) as e:
        actlab.parse(bad)
    assert "alpha" in str(e.value)
    assert actlab.spec("elu").params[0].range_text() in str(e.value)


def test_out_of_range_parameter_is_refused_with_the_range():
    with pytest.raises(ValueError) as e:
        actlab.label("softplus:beta=-1")
    assert "(0.0, inf)" in str(e.value)


@pytest.mark.parametrize("bad", ["elu:alpha=1:alpha=2", "elu:alpha=1,alpha=2", "elu:2:alpha=2"])
def test_repeated_keys_are_refused(bad):
    with pytest.raises(ValueError, match="'alpha' is given more than once"):
        actlab.parse(bad)


def test_a_study_trains_two_spellings_once():
    study = build_study(activations=parse_activations("elu,elu:alpha=1.0,ELU:alpha=1,relu"), seeds=2)
    assert study.activations == ("elu", "relu")
    assert len(study.runs()) == 4


def test_a_repeated_key_in_a_study_is_one_clear_error():
    with pytest.raises(ValueError, match="'alpha' is given more than once"):
        parse_activations("elu:alpha=1,alpha=2")
    # A key=value item continues the activation before it.
    assert parse_activations("softplus:beta=2,threshold=20,relu") == ("softplus:beta=2:threshold=20", "relu")
