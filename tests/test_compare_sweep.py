"""Sweep settings: profiles, activation lists, grids, and the run list."""
import pytest

from actlab.compare.sweep import (DEFAULT_ACTIVATIONS, SweepError, build_study, describe, parse_activations,
                                  parse_grid, parse_value)


def test_default_study_is_the_seed_experiment():
    s = build_study()
    assert s.activations == ("sigmoid", "relu", "elu", "leaky_relu:negative_slope=0.2", "selu", "gelu")
    assert len(DEFAULT_ACTIVATIONS) == 6
    assert (s.dataset, s.model, s.optimizer, s.clip_value, s.clip_norm) == ("mnist-small", "cnn", "adam", 0.5, None)
    assert s.seeds >= 2
    runs = s.runs()
    assert len(runs) == 6 * s.seeds
    assert {(r["activation"], r["seed"]) for r in runs} == {(a, k) for a in s.activations for k in range(s.seeds)}


def test_paper_profile_and_explicit_overrides():
    s = build_study("paper")
    assert (s.dataset, s.epochs, s.seeds, s.train_limit) == ("mnist", 12, 5, None)
    s = build_study("paper", seeds=3, epochs=None)
    assert (s.seeds, s.epochs) == (3, 12)
    with pytest.raises(SweepError, match="unknown profile"):
        build_study("huge")


def test_activation_lists_are_canonical_and_deduplicated():
    assert parse_activations("ReLU, gelu,leaky_relu:0.2,relu") == ("relu", "gelu", "leaky_relu:negative_slope=0.2")
    assert parse_activations("elu:alpha=0.2") == ("elu:alpha=0.2",)
    for bad in ("relu,,gelu", "", " "):
        with pytest.raises(SweepError, match="empty entry"):
            parse_activations(bad)
    with pytest.raises(ValueError, match="unknown activation 'rleu'"):
        parse_activations("rleu")
    with pytest.raises(ValueError):
        parse_activations("elu:alpha=abc")


def test_grid_parsing_and_run_list():
    grid = parse_grid(["lr=0.001|0.0003", "batchnorm=true|false", "clip_value=none|0.5"])
    assert grid == (("lr", (0.001, 0.0003)), ("batchnorm", (True, False)), ("clip_value", (None, 0.5)))
    s = build_study(activations=("relu",), seeds=2, grid=grid)
    runs = s.runs()
    assert len(runs) == 2 * 2 * 2 * 2
    first = runs[0]
    assert first["config"]["lr"] == 0.001 and first["config"]["batchnorm"] is True
    assert first["config"]["clip_value"] is None
    assert describe(first) == "relu [batchnorm=True, clip_value=None, lr=0.001]"
    assert describe({"activation": "relu", "grid": {}}) == "relu"


@pytest.mark.parametrize("item, message", [
    ("lr", "malformed"), ("lr=", "malformed"), ("epochs=1|2", "cannot vary 'epochs'"),
    ("colour=red", "cannot vary 'colour'"), ("batch_size=64|big", "'big' for batch_size is not an integer"),
])
def test_bad_grids(item, message):
    with pytest.raises(SweepError, match=message):
        parse_grid([item])


def test_grid_key_twice():
    with pytest.raises(SweepError, match="twice"):
        parse_grid(["lr=0.1", "lr=0.2"])


@pytest.mark.parametrize("settings, message", [
    ({"seeds": 0}, "--seeds"), ({"epochs": 0}, "--epochs"), ({"lr": -1.0}, "--lr"),
    ({"val_fraction": 1.0}, "--val-fraction"), ({"clip_norm": 0.0}, "--clip-norm"),
    ({"batch_size": 0}, "--batch-size"), ({"grid": (("lr", (0.1, -0.1)),)}, "--lr"),
])
def test_bad_numbers(settings, message):
    with pytest.raises(SweepError, match=message):
        build_study(**settings)


def test_config_and_study_id():
    a, b = build_study(seeds=2), build_study(seeds=2, data_dir="/somewhere/else")
    assert a.config() == b.config() and a.study_id() == b.study_id()
    assert "data_dir" not in a.config()
    assert build_study(seeds=3).study_id() != a.study_id()
    assert parse_value("clip_norm", "off") is None and parse_value("width", "64") == 64
