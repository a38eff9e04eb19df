"""actlab compare end to end on real data (the embedded MNIST subset): files, determinism, workers, bad input."""
import csv
import json
import math
import sqlite3

import numpy as np
import pytest
from scipy import stats as st

from actlab.cli import main

TINY = ["compare", "--model", "mlp", "--activations", "relu,gelu", "--seeds", "2", "--epochs", "2",
        "--train-limit", "300", "--workers", "1", "--quiet"]
TIMING = {"seconds_per_epoch", "samples_per_second"}


def run(out, *extra):
    return main([*TINY, "--out", str(out), *extra])


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text):
    return math.nan if text == "" else float(text)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    assert run(out) == 0
    return out


def test_history_has_one_row_per_activation_seed_epoch(study):
    rows = read_csv(study / "history.csv")
    assert [(r["activation"], r["seed"], r["epoch"]) for r in rows] == [
        (a, str(s), str(e)) for a in ("relu", "gelu") for s in (0, 1) for e in (1, 2)]
    for r in rows:
        for key in ("train_acc", "val_acc", "test_acc"):
            assert 0 <= float(r[key]) <= 1
        assert float(r["train_loss"]) > 0 and float(r["seconds"]) > 0
        assert int(r["samples"]) == 300 * int(r["epoch"])
    assert float(rows[1]["elapsed_seconds"]) == pytest.approx(float(rows[0]["seconds"]) + float(rows[1]["seconds"]))


def test_summary_is_recomputed_from_history(study):
    history = read_csv(study / "history.csv")
    summary = {r["activation"]: r for r in read_csv(study / "summary.csv")}
    finals = {}
    for a in ("relu", "gelu"):
        for seed in ("0", "1"):
            epochs = [r for r in history if r["activation"] == a and r["seed"] == seed]
            best = min(epochs, key=lambda r: (float(r["val_loss"]), int(r["epoch"])))
            finals.setdefault(a, []).append((float(best["test_acc"]), float(best["test_loss"]), best["epoch"]))
    for a, values in finals.items():
        acc = np.array([v[0] for v in values])
        row = summary[a]
        assert int(row["n_runs"]) == 2 and row["best_epochs"] == ";".join(v[2] for v in values)
        assert num(row["test_acc_mean"]) == pytest.approx(acc.mean())
        assert num(row["test_acc_std"]) == pytest.approx(acc.std(ddof=1))
        half = st.t.ppf(0.975, 1) * acc.std(ddof=1) / math.sqrt(2)
        assert num(row["test_acc_ci_low"]) == pytest.approx(acc.mean() - half)
        assert num(row["test_loss_mean"]) == pytest.approx(np.mean([v[1] for v in values]))
    best, other = sorted(summary.values(), key=lambda r: int(r["rank"]))
    assert num(best["test_acc_mean"]) >= num(other["test_acc_mean"])
    welch = st.ttest_ind([v[0] for v in finals[best["activation"]]], [v[0] for v in finals[other["activation"]]],
                         equal_var=False)
    assert num(other["p_vs_best"]) == pytest.approx(welch.pvalue)
    assert num(other["p_holm"]) == pytest.approx(welch.pvalue)  # one comparison: Holm changes nothing
    assert best["verdict"] == "best" and other["significant"] in ("True", "False")


def test_store_matches_history_and_config(study):
    conn = sqlite3.connect(study / "results.sqlite")
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_id || '-' || epoch) FROM epochs").fetchone() == (8, 8)
    assert conn.execute("SELECT DISTINCT status FROM runs").fetchall() == [("done",)]
    assert conn.execute("SELECT COUNT(*) FROM layer_stats").fetchone() == (0,)
    stored = json.loads(conn.execute("SELECT config_json FROM study").fetchone()[0])
    conn.close()
    config = json.loads((study / "config.json").read_text())
    assert config["config"] == stored
    assert stored["activations"] == ["relu", "gelu"] and stored["model"] == "mlp" and stored["train_limit"] == 300
    assert config["command"].startswith("actlab compare --activations relu,gelu --model mlp --epochs 2 --seeds 2")
    assert config["data"]["train"] == 300 and config["data"]["val"] == 1000
    assert config["environment"]["cpu_count"] >= 1 and config["environment"]["threads"] >= 1


def test_compare_ends_by_writing_the_study_report(study):
    html = (study / "report.html").read_text()
    assert "<table" in html and "relu" in html and "gelu" in html


def test_plots_are_png_images(study):
    for name in ("accuracy.png", "loss.png"):
        data = (study / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_same_command_gives_identical_numbers(study, tmp_path):
    assert run(tmp_path) == 0
    first, second = read_csv(study / "summary.csv"), read_csv(tmp_path / "summary.csv")
    for a, b in zip(first, second):
        assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}


def test_rerun_in_same_folder_trains_nothing(study, capsys):
    conn = sqlite3.connect(study / "results.sqlite")
    before = conn.execute("SELECT * FROM epochs ORDER BY run_id, epoch").fetchall()
    assert run(study) == 0
    assert conn.execute("SELECT * FROM epochs ORDER BY run_id, epoch").fetchall() == before
    assert conn.execute("SELECT MAX(attempts) FROM runs").fetchone() == (1,)
    conn.close()
    assert "best" in capsys.readouterr().out


def test_process_pool_workers(study, tmp_path):
    assert run(tmp_path, "--workers", "2") == 0
    pooled = {r["activation"]: r for r in read_csv(tmp_path / "summary.csv")}
    for row in read_csv(study / "summary.csv"):
        # Workers train with one thread each; only summation order may differ from the in-process run.
        assert num(pooled[row["activation"]]["test_acc_mean"]) == pytest.approx(num(row["test_acc_mean"]), abs=2e-3)
    assert len(read_csv(tmp_path / "history.csv")) == 8


@pytest.mark.parametrize("flags, message", [
    (["--activations", "relu,rleu"], "unknown activation 'rleu'"),
    (["--activations", "elu:alpha=abc"], "cannot read parameter value 'abc'"),
    (["--activations", "relu,,gelu"], "empty entry"),
    (["--model", "transformer"], "model 'transformer': expected 'cnn', 'mlp'"),
    (["--model", "no_such_pkg.mod:build"], "cannot import module 'no_such_pkg.mod'"),
    (["--dataset", "cifar"], "cifar"),
    (["--train-limit", "12"], "train_limit=12"),
    (["--train-limit", "lots"], "is not a whole number"),
    (["--grid", "momentum=0.9"], "cannot vary 'momentum'"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--clip-value", "big"], "is not a number"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--data-dir", "."], "ships inside actlab"),
])
def test_bad_input_is_one_clear_line_before_any_training(tmp_path, capsys, flags, message):
    out = tmp_path / "out"
    assert main([*TINY, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("actlab compare: error:")
    assert not out.exists()


def test_data_dir_without_files(tmp_path, capsys):
    assert main([*TINY, "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "does not hold the mnist dataset" in err and not (tmp_path / "o").exists()


def test_corrupt_store_is_refused(tmp_path, capsys):
    (tmp_path / "results.sqlite").write_bytes(b"\0garbage" * 512)
    assert run(tmp_path) == 2
    assert "not a readable actlab results store" in capsys.readouterr().err
    assert (tmp_path / "results.sqlite").read_bytes() == b"\0garbage" * 512


def test_changed_configuration_is_refused(study, capsys):
    before = (study / "results.sqlite").stat().st_size, read_csv(study / "summary.csv")
    assert main([*TINY[:-1], "--epochs", "3", "--out", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "epochs: 2 -> 3" in err and "results are never mixed" in err
    assert ((study / "results.sqlite").stat().st_size, read_csv(study / "summary.csv")) == before


def test_diverging_runs_finish_early_and_are_flagged(tmp_path, capsys):
    assert main([*TINY, "--activations", "relu", "--lr", "1e12", "--clip-value", "none", "--out", str(tmp_path)]) == 0
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    assert conn.execute("SELECT epoch, diverged, val_loss FROM epochs").fetchall() == [(1, 1, None), (1, 1, None)]
    assert conn.execute("SELECT status FROM runs").fetchall() == [("diverged",), ("diverged",)]
    conn.close()
    (row,) = read_csv(tmp_path / "summary.csv")
    assert row["n_diverged"] == "2" and row["test_loss_mean"] == ""
    assert "relu: 2 of 2 runs diverged" in capsys.readouterr().out


def test_diagnostics_fill_layer_stats(tmp_path):
    assert main([*TINY, "--activations", "relu", "--seeds", "1", "--epochs", "1", "--diagnostics",
                 "--out", str(tmp_path)]) == 0
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    metrics = {m for (m,) in conn.execute("SELECT DISTINCT metric FROM layer_stats")}
    layers = conn.execute("SELECT COUNT(DISTINCT layer) FROM layer_stats").fetchone()[0]
    conn.close()
    assert {"grad_norm_w", "act_mean", "frac_dead"} <= metrics and layers >= 3


FACTORY = '''
from torch import nn


def build(activation, in_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], 32), activation(),
                         nn.Linear(32, num_classes))
'''


def test_user_model_factory_and_grid(tmp_path, monkeypatch):
    (tmp_path / "my_tiny_models.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "out"
    assert main([*TINY, "--model", "my_tiny_models:build", "--activations", "elu:alpha=0.5", "--seeds", "1",
                 "--epochs", "1", "--grid", "lr=0.001|0.01", "--out", str(out)]) == 0
    rows = read_csv(out / "summary.csv")
    assert sorted(r["label"] for r in rows) == ["elu:alpha=0.5 [lr=0.001]", "elu:alpha=0.5 [lr=0.01]"]
    assert {r["grid"] for r in rows} == {"lr=0.001", "lr=0.01"} and {r["n_runs"] for r in rows} == {"1"}
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["grid"] == {"lr": [0.001, 0.01]} and config["config"]["model"] == "my_tiny_models:build"
    assert "--grid 'lr=0.001|0.01'" in config["command"]


@pytest.mark.parametrize("flags, words", [
    (["--address", "127.0.0.1:6379"], ("--address", "--backend ray")),
    (["--early-stop", "median"], ("--early-stop", "asha")),
    (["--early-stop", "asha:eta=x"], ("eta=N",)),
])
def test_scale_out_flags_are_checked_with_a_clear_message(tmp_path, capsys, flags, words):
    out = tmp_path / "study"
    assert main(TINY + flags + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words) and "Traceback" not in err
