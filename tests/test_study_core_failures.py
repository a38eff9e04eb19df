"""Failures are results: diverged runs are counted, never scored; ASHA-stopped runs end 'stopped' (issue 10)."""
import csv
import math
import sqlite3

import numpy as np
from scipy import stats as st

from actlab.cli import main
from actlab.compare.outputs import summarize
from actlab.report.study_data import load_study
from actlab.store import Store
from paths import MNIST_DIR

# A real MNIST slice; plain SGD at lr 1e30 without clipping sends the weights to infinity in its first step.
DIVERGING = ["compare", "--dataset", "mnist", "--data-dir", str(MNIST_DIR), "--train-limit", "300",
             "--model", "mlp", "--width", "32", "--activations", "relu", "--seeds", "2", "--epochs", "2",
             "--clip-value", "none", "--grid", "optimizer=sgd", "--grid", "lr=0.05|1e30", "--workers", "1",
             "--quiet"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_diverging_configuration_is_ranked_as_such(tmp_path, capsys):
    assert main([*DIVERGING, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    status = dict(conn.execute("SELECT grid_json || seed, status FROM runs").fetchall())
    conn.close()
    assert sorted(status.values()) == ["diverged", "diverged", "done", "done"]
    rows = {r["label"]: r for r in read_csv(tmp_path / "summary.csv")}
    good, bad = rows["relu [lr=0.05, optimizer=sgd]"], rows["relu [lr=1e+30, optimizer=sgd]"]
    assert (bad["n_diverged"], bad["divergence_rate"], bad["test_acc_mean"]) == ("2", "1.0", "")
    # Each grid point is its own comparison (docs/statistics.md): both are rank 1 of their grid point.
    assert bad["verdict"] == "not ranked: every run diverged" and bad["rank"] == "1"
    assert (good["n_diverged"], good["divergence_rate"], good["rank"]) == ("0", "0.0", "1")
    assert [r["grid"] for r in read_csv(tmp_path / "summary.csv")] == ["lr=0.05;optimizer=sgd",
                                                                      "lr=1e+30;optimizer=sgd"]
    # The good group's mean and interval come from its own two runs only (scipy's t interval).
    history = read_csv(tmp_path / "history.csv")
    finals = []
    for seed in ("0", "1"):
        epochs = [r for r in history if r["label"] == good["label"] and r["seed"] == seed]
        finals.append(float(min(epochs, key=lambda r: (float(r["val_loss"]), int(r["epoch"])))["test_acc"]))
    assert float(good["test_acc_mean"]) == np.mean(finals)
    low, high = st.t.interval(0.95, 1, loc=np.mean(finals), scale=st.sem(finals))
    assert math.isclose(float(good["test_acc_ci_low"]), low) and math.isclose(float(good["test_acc_ci_high"]), high)
    assert "2 (2 diverged)" in out and "2 of 2 runs diverged" in out


def record(epoch, acc, diverged=False):
    loss = math.nan if diverged else 1 - acc
    return {"epoch": epoch, "train_loss": loss, "train_acc": acc, "val_loss": loss, "val_acc": acc,
            "test_loss": loss, "test_acc": acc, "seconds": 1.0, "samples": 100, "diverged": diverged}


def test_a_run_diverging_in_one_seed_is_left_out_and_named_in_the_verdict(tmp_path):
    # Stored results as a study writes them: gelu's seed 2 diverged in its first epoch, where the NaN logits'
    # argmax gives class 0 and an accuracy near 0.098 that must not enter the mean.
    with Store(tmp_path / "results.sqlite") as store:
        store.ensure_study("s", {"epochs": 1}, "actlab compare", "0")
        store.add_runs([{"activation": a, "seed": s, "config": {}, "epochs": 1}
                        for a in ("relu", "gelu") for s in range(3)])
        accs = {("relu", 0): 0.95, ("relu", 1): 0.96, ("relu", 2): 0.94,
                ("gelu", 0): 0.97, ("gelu", 1): 0.965, ("gelu", 2): 0.098}
        for run in store.runs():
            store.restart_run(run["run_id"])
            diverged = (run["activation"], run["seed"]) == ("gelu", 2)
            store.record_epoch(run["run_id"], record(1, accs[run["activation"], run["seed"]], diverged))
        summary = summarize(store)
    rows = {r["label"]: r for r in summary.rows}
    assert rows["gelu"]["test_acc_mean"] == np.mean([0.97, 0.965])
    assert rows["gelu"]["n_diverged"] == 1 and rows["gelu"]["n_runs"] == 3
    assert math.isclose(rows["gelu"]["divergence_rate"], 1 / 3)
    assert rows["gelu"]["rank"] == 1 and "diverged in 1 of 3 runs" in rows["gelu"]["verdict"]
    # relu vs gelu is tested on gelu's two trained runs only (Welch's t-test, scipy).
    p = st.ttest_ind([0.97, 0.965], [0.95, 0.96, 0.94], equal_var=False).pvalue
    assert math.isclose(rows["relu"]["p_vs_best"], p)


def test_asha_stopped_runs_end_stopped_and_the_study_is_not_in_progress(tmp_path, capsys):
    flags = ["compare", "--model", "mlp", "--width", "16", "--activations", "tanh,gelu,relu,sigmoid",
             "--seeds", "1", "--epochs", "2", "--train-limit", "300", "--early-stop", "asha", "--workers", "1",
             "--quiet", "--out", str(tmp_path)]
    assert main(flags) == 0
    with Store(tmp_path / "results.sqlite", readonly=True) as store:
        status = [r["status"] for r in store.runs()]
        stopped = store.stopped_runs()
    assert "running" not in status and "pending" not in status
    assert status.count("stopped") == len(stopped) >= 1
    data = load_study(tmp_path)
    assert not data.in_progress
    assert "in progress" not in (tmp_path / "report.html").read_text().lower()


def test_weights_blown_up_by_the_last_step_count_as_diverged(tmp_path, capsys):
    # One step per epoch (100 images, batch 128): the step's own loss is finite, the step sends the weights
    # to infinity, and the evaluation after it sees NaN logits, whose argmax (class 0) must not be scored.
    flags = ["compare", "--model", "mlp", "--width", "16", "--activations", "relu", "--seeds", "2", "--epochs", "1",
             "--train-limit", "100", "--batch-size", "128", "--clip-value", "none", "--grid", "optimizer=sgd",
             "--lr", "1e30", "--workers", "1", "--quiet", "--out", str(tmp_path)]
    assert main(flags) == 0
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    rows = conn.execute("SELECT e.train_loss, e.val_loss, e.diverged, r.status FROM epochs e JOIN runs r "
                        "USING (run_id)").fetchall()
    conn.close()
    assert all(math.isfinite(train) for train, *_ in rows)  # the training loss alone never saw it
    assert [(val, diverged, status) for _, val, diverged, status in rows] == [(None, 1, "diverged")] * 2
    (row,) = read_csv(tmp_path / "summary.csv")
    assert row["test_acc_mean"] == "" and row["n_diverged"] == "2"
