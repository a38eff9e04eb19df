"""The depth x sigma_w^2 trainability grid on real MNIST against the predicted depth scale.

At sigma_b^2 = 0 and sigma_w^2 < 1 a tanh network's fixed point is q* = 0,
where chi_c = chi_1 = sigma_w^2, so xi_c = -1 / log(sigma_w^2) in closed form;
at sigma_w^2 = 1 it diverges (the edge of chaos).
"""
import argparse
import csv
import json
import math

import pytest

from actlab.data import load_dataset, split
from actlab.theory.trainability import cli_trainability, trainability_grid
from paths import MNIST_DIR


@pytest.fixture(scope="module")
def splits():
    return split(load_dataset("mnist", data_dir=MNIST_DIR), val_fraction=0.1, seed=0, train_limit=600)


def test_beyond_the_depth_scale_nothing_is_learned_at_the_edge_of_chaos_it_is(splits):
    cells = trainability_grid("tanh", [16], [0.3, 1.0], splits, sigma_b2=0.0, width=64, epochs=3, lr=0.01)
    far, critical = cells
    assert far.xi_c == pytest.approx(-1 / math.log(far.sigma_w2), rel=1e-6)
    assert 6 * far.xi_c < 16 and not far.predicted_trainable  # 6 xi_c = 5 layers
    assert math.isinf(critical.xi_c) and critical.predicted_trainable
    assert far.train_acc < 0.2  # chance is 0.1
    assert critical.train_acc > 0.5


def test_cli_writes_png_json_csv(tmp_path):
    args = argparse.Namespace(activation="tanh", out=str(tmp_path), depths="2,8", sigma_w2="0.3,1", sigma_b2=0.0,
                              data_dir=None, epochs=1, train_limit=300)
    assert cli_trainability(args) == 0
    data = json.loads((tmp_path / "trainability.json").read_text())
    assert data["depth_multiple"] == 6.0 and data["settings"]["dataset"] == "mnist-small"
    assert [(c["depth"], c["sigma_w2"]) for c in data["cells"]] == [(2, 0.3), (2, 1.0), (8, 0.3), (8, 1.0)]
    assert data["cells"][1]["xi_c"] is None  # infinite at the edge of chaos: JSON has no inf
    with open(tmp_path / "cells.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (tmp_path / "trainability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_input_errors(tmp_path):
    base = dict(activation="tanh", out=str(tmp_path), depths="2", sigma_w2="1", sigma_b2=0.0, data_dir=None,
                epochs=1, train_limit=300)
    for key, value, message in (("depths", "2,x", "comma-separated"), ("depths", "2.5", "whole numbers"),
                                ("sigma_w2", "-1", "> 0"),
                                ("sigma_b2", -0.1, ">= 0"), ("train_limit", "many", "whole number"),
                                ("epochs", -1, "at least 1"), ("activation", "tanhh", "unknown activation")):
        with pytest.raises(ValueError, match=message):
            cli_trainability(argparse.Namespace(**dict(base, **{key: value})))
