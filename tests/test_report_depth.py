"""The study page shows accuracy against depth when a deep-mlp study sweeps depth (real Fashion-MNIST slice)."""
from __future__ import annotations

import re

import torch

from actlab.compare import build_study, run_study
from actlab.report import write_study_report
from actlab.results import load
from paths import SHARED_DATA


def test_study_page_draws_accuracy_against_depth(tmp_path):
    torch.set_num_threads(1)
    study = build_study("test", task="deep-mlp", data_dir=str(SHARED_DATA), activations=("relu", "tanh"),
                        grid=(("depth", (2, 3)),), seeds=1, epochs=1, train_limit=500)
    run_study(study, tmp_path, workers=1, quiet=True)
    html = write_study_report(tmp_path).read_text()
    section = re.search(r'<section[^>]*id="depth-section".*?</section>', html, re.S)
    assert section, "no depth section in the study page"
    # One line per activation, its points at the two depths; the chance level of 10 classes is drawn.
    rows = load(tmp_path).summary.rows
    assert {r["activation"] for r in rows} == {"relu", "tanh"} and len(rows) == 4
    for activation in ("relu", "tanh", "chance"):
        assert activation in section.group(0)
    # Each depth is its own comparison: its own table and interval chart, never one chart over both depths.
    assert 'id="ci-chart"' not in html
    for i in (1, 2):
        chart = re.search(rf'<svg[^>]*id="ci-chart-{i}".*?</svg>', html, re.S)
        assert chart, f"no interval chart for grid point {i}"
        assert chart.group(0).count("<circle") == 2  # relu and tanh at that depth


def test_study_page_has_no_depth_section_without_a_depth_sweep(tmp_path):
    torch.set_num_threads(1)
    study = build_study("test", task="deep-mlp", data_dir=str(SHARED_DATA), activations=("relu",),
                        seeds=1, epochs=1, train_limit=500, grid=(("depth", (2,)),))
    run_study(study, tmp_path, workers=1, quiet=True)
    assert "depth-section" not in write_study_report(tmp_path).read_text()
