"""`actlab.load(FOLDER)`: a real study's ranking, runs and history from Python, read-only, equal to its CSVs;
and the report reading results without importing `actlab.compare`."""
import ast
import hashlib
import math
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from scipy import stats as st

import actlab
from actlab.cli import main
from actlab.store import StoreError

SRC = Path(actlab.__file__).parent
LABELS = {"relu", "elu"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One tiny real study on the embedded mnist-small: 2 activations x 2 seeds x 1 epoch on 600 images."""
    folder = tmp_path_factory.mktemp("results") / "study"
    flags = ["compare", "--model", "mlp", "--activations", "relu,elu", "--seeds", "2", "--epochs", "1",
             "--train-limit", "600", "--workers", "1", "--quiet", "--out", str(folder)]
    assert main(flags) == 0
    return folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_ranking_equals_summary_csv(folder: Path):
    ranking = actlab.load(folder).ranking
    csv = pd.read_csv(folder / "summary.csv", keep_default_na=False, na_values=[""])
    assert list(ranking.columns) == list(csv.columns) and len(ranking) == len(csv) == 2
    for column in csv.columns:
        for got, want in zip(ranking[column], csv[column]):
            if pd.isna(want):  # an empty cell: NaN, or no grid / no test
                assert got == "" or (isinstance(got, float) and math.isnan(got)), column
            elif isinstance(got, float):
                assert got == float(want), column  # summary.csv writes floats exactly (repr)
            else:
                assert str(got) == str(want), column


def test_ranking_equals_summary_csv(study):
    _assert_ranking_equals_summary_csv(study)


def test_ranking_follows_the_protocol_computed_independently_from_history_csv(study):
    """Per activation: test accuracy at each run's lowest-validation-loss epoch, mean and t interval (scipy)."""
    history = pd.read_csv(study / "history.csv")
    ranking = actlab.load(study).ranking.set_index("label")
    assert set(ranking.index) == LABELS
    for label, runs in history.groupby("label"):
        finals = [rows.sort_values(["val_loss", "epoch"]).iloc[0]["test_acc"] for _, rows in runs.groupby("seed")]
        mean, sd = statistics.fmean(finals), statistics.stdev(finals)
        half = st.t.ppf(0.975, len(finals) - 1) * sd / math.sqrt(len(finals))
        row = ranking.loc[label]
        assert row["n_runs"] == 2 and row["n_diverged"] == 0 and row["divergence_rate"] == 0
        assert math.isclose(row["test_acc_mean"], mean, rel_tol=1e-12)
        assert math.isclose(row["test_acc_std"], sd, rel_tol=1e-9)
        assert math.isclose(row["test_acc_ci_low"], mean - half, rel_tol=1e-9)
        assert math.isclose(row["test_acc_ci_high"], mean + half, rel_tol=1e-9)
    assert sorted(ranking["rank"]) == [1, 2]
    best = ranking["test_acc_mean"].idxmax()
    assert ranking.loc[best, "rank"] == 1


def test_history_equals_history_csv(study):
    history = actlab.load(study).history
    csv = pd.read_csv(study / "history.csv", keep_default_na=False, na_values=[""])
    assert list(history.columns) == list(csv.columns) and len(history) == len(csv) == 4  # 4 runs x 1 epoch
    pd.testing.assert_frame_equal(history.drop(columns="grid").reset_index(drop=True),
                                  csv.drop(columns="grid"), check_dtype=False, rtol=0, atol=0)
    assert set(history["label"]) == LABELS


def test_runs_config_and_provenance(study):
    result = actlab.load(study)
    runs = result.runs
    assert len(runs) == 4 and set(runs["status"]) == {"done"}
    assert sorted(zip(runs["label"], runs["seed"])) == [("elu", 0), ("elu", 1), ("relu", 0), ("relu", 1)]
    assert list(runs["epochs_done"]) == [1, 1, 1, 1]
    assert all(c["model"] == "mlp" and c["epochs"] == 1 for c in runs["config"])
    assert all(env["torch"] == torch.__version__ and env["actlab"] == actlab.__version__ for env in runs["env"])
    assert set(runs["run_id"]) == set(result.history["run_id"])
    config = result.config
    assert config["seeds"] == 2 and config["train_limit"] == 600 and config["dataset"] == "mnist-small"
    assert len(config["invocations"]) == 1 and config["invocations"][0]["command"].startswith("actlab compare")
    assert result.provenance["dataset"] == "mnist-small"


def test_repr_and_html_table(study):
    result = actlab.load(study)
    page = result._repr_html_()
    assert "<table>" in page and page.count("<tr>") == 3  # header + 2 activations
    assert all(f"<td>{label}</td>" in page for label in LABELS)
    text = repr(result)
    assert "4 runs: 4 done" in text and all(label in text for label in LABELS)


def test_loading_leaves_the_store_byte_for_byte_unchanged(study):
    path = study / "results.sqlite"
    before, stamp = _sha(path), path.stat().st_mtime_ns
    actlab.load(study)
    actlab.load(path)  # the file itself works too
    assert _sha(path) == before and path.stat().st_mtime_ns == stamp


def test_missing_folder_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        actlab.load(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="has no results.sqlite"):
        actlab.load(tmp_path)


def test_foreign_sqlite_file_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()
    before = _sha(path)
    with pytest.raises(StoreError, match="not an actlab results store|damaged"):
        actlab.load(tmp_path)
    assert _sha(path) == before
    text = tmp_path / "text" / "results.sqlite"
    text.parent.mkdir()
    text.write_text("not a database\n")
    with pytest.raises(StoreError):
        actlab.load(text)
    assert text.read_text() == "not a database\n"


def _imported_modules(path: Path, package: str):
    """Absolute names of every module a file imports (relative imports resolved against ``package``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{a.name}" for a in node.names)


def test_report_never_imports_compare():
    files = sorted((SRC / "report").rglob("*.py"))
    assert files
    for path in files:
        for name in _imported_modules(path, "actlab.report"):
            assert not name.startswith("actlab.compare"), f"{path.name} imports {name}"
    loaded = subprocess.run([sys.executable, "-c", "import sys, actlab.report, actlab.results; "
                             "print(sorted(m for m in sys.modules if m.startswith('actlab.compare')))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_the_cli_not_the_runner_writes_the_report(study):
    assert (study / "report.html").is_file()
    runner = SRC / "compare" / "runner.py"
    assert not [n for n in _imported_modules(runner, "actlab.compare") if n.startswith("actlab.report")]


def test_tune_writes_the_report_and_loads_like_compare(tmp_path):
    out = tmp_path / "tuned"
    assert main(["tune", "--activations", "relu,selu", "--space", "lr=1e-4..1e-2:log", "--trials", "2",
                 "--seeds", "2", "--epochs", "1", "--model", "mlp", "--width", "32", "--depth", "1",
                 "--train-limit", "300", "--out", str(out), "--quiet"]) == 0
    assert (out / "report.html").is_file()
    _assert_ranking_equals_summary_csv(out)
    assert set(actlab.load(out).runs["status"]) == {"done"}
