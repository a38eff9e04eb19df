"""`actlab report FOLDER` / write_study_report: what the study page shows, its warnings, and bad input."""
import re
import sqlite3

import pytest
from browser.studies import LAYERS, make_study

from actlab.cli import main
from actlab.compare.outputs import summarize
from actlab.report import ReportError, write_study_report
from actlab.store import Store


def _rows(page: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _warnings(page: str) -> str:
    m = re.search(r'<aside class="warning".*?</aside>', page, re.S)
    return m.group(0) if m else ""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = make_study(tmp_path_factory.mktemp("s") / "mnist", activations=("relu", "gelu", "leaky_relu:0.2"),
                        seeds=3, diagnostics=True)
    assert main(["report", str(folder)]) == 0
    return folder, (folder / "report.html").read_text()


def test_ranking_matches_the_store_summary(finished):
    folder, page = finished
    with Store(folder / "results.sqlite", readonly=True) as store:
        summary = summarize(store)
    rows = _rows(page, "ranking-table")
    assert len(rows) == len(summary.rows) == 3
    for row, expected in zip(rows, summary.rows):
        cells = _cells(row)
        assert cells[0] == str(expected["rank"]) and cells[1] == expected["label"]
        assert cells[3] == f"{expected['test_acc_mean']:.4g}"
        assert cells[5] == f"[{expected['acc_ci_low']:.4g}, {expected['acc_ci_high']:.4g}]"
        assert 0 < expected["acc_ci_low"] < expected["acc_ci_high"] < 1
        assert cells[6] == f"{expected['p_best']:.4g}"
    assert _cells(rows[0])[12] == "best"
    assert {_cells(r)[12] for r in rows[1:]} <= {"yes: worse", "no"}
    assert page.count('<circle') == 3  # one mean-and-CI marker per activation


def test_verdict_heatmap_and_pairs_match_the_summary(finished):
    folder, page = finished
    with Store(folder / "results.sqlite", readonly=True) as store:
        summary = summarize(store)
    assert f"<strong>Verdict:</strong> {summary.sentence}" in page.replace("&#x27;", "'")
    heat = re.search(r'<svg class="chart heatmap".*?</svg>', page, re.S).group(0)
    assert heat.count('<g class="pair') == 6  # 3 activations: 3 x 2 off-diagonal cells
    separated = [p for p in summary.pairs if p["separated"] == "yes"]
    assert heat.count('<g class="pair separated">') == 2 * len(separated)
    for p in summary.pairs:  # each cell shows row minus column, both ways round
        assert f"{p['diff_points']:+.2f}" in heat and f"{-p['diff_points']:+.2f}" in heat
    assert len(_rows(page, "pairs-table")) == 3
    open_pairs = [p for p in summary.pairs if p["separated"] == "no"]
    assert len(_rows(page, "power-table")) == len(open_pairs) if open_pairs else "Every pair is separated" in page


def test_curves_cost_properties_runs_and_environment(finished):
    _, page = finished
    for chart in ("curve-val-acc", "curve-val-loss", "curve-test-acc", "curve-test-loss"):
        svg = re.search(rf'<svg class="chart"[^>]*id="{chart}".*?</svg>', page, re.S).group(0)
        assert svg.count("<polyline") == 3 and svg.count('class="band"') == 3
    cost = {_cells(r)[0]: _cells(r) for r in _rows(page, "cost-table")}
    assert set(cost) == {"relu", "gelu", "leaky_relu:negative_slope=0.2"}
    assert all(float(c[3]) > 0 and float(c[4]) > 0 for c in cost.values())
    props = _rows(page, "properties-table")
    assert len(props) == 3 and all('<svg class="math"' in r for r in props)
    assert len(_rows(page, "runs-table")) == 9
    env = {_cells(r)[0]: _cells(r)[1] for r in _rows(page, "environment-table")}
    assert env["torch"] == "2.13.0" and env["threads"] == "not recorded by the study"
    assert "actlab compare --out study" in page
    assert '<aside class="warning"' not in page or "diverged" not in _warnings(page)


NATURAL = ["classifier.1", "features.0", "features.3", "features.10"]  # 3 before 10


def test_gradient_tables_per_layer_in_natural_order(finished):
    _, page = finished
    for metric in ("grad_norm_w", "frac_dead"):
        header = re.search(rf'<table id="grad-{metric}".*?<thead>(.*?)</thead>', page, re.S).group(1)
        assert re.findall(r"<th[^>]*>(.*?)</th>", header)[1:] == NATURAL
    relu = next(_cells(r) for r in _rows(page, "grad-grad_norm_w") if _cells(r)[0] == "relu")
    # make_study records 0.1 * (k + 1) * epoch for layer k; the last epoch is 4.
    expected = {layer: 0.1 * (k + 1) * 4 for k, layer in enumerate(LAYERS)}
    assert [float(v) for v in relu[1:]] == pytest.approx([expected[layer] for layer in NATURAL])


def test_one_seed_and_a_diverged_run_are_warned_about(tmp_path):
    folder = make_study(tmp_path / "weak", seeds=1, diverge=(1, 0))
    page = write_study_report(folder).read_text()
    box = _warnings(page)
    assert "One seed per activation" in box
    assert "gelu (seed 0) diverged: its loss was NaN from epoch 2 on" in box
    assert "Not recorded: this study ran without --diagnostics" in page
    gelu = next(_cells(r) for r in _rows(page, "runs-table") if _cells(r)[1] == "gelu")
    assert gelu[-1] == "diverged at epoch 2"
    assert "stayed at chance level" not in box


def test_an_activation_at_chance_level_is_warned_about(tmp_path):
    folder = make_study(tmp_path / "chance", activations=("relu", "sigmoid"), seeds=2)
    with Store(folder / "results.sqlite") as store:
        store.conn.execute("UPDATE epochs SET test_acc = 0.1 WHERE run_id IN "
                           "(SELECT run_id FROM runs WHERE activation = 'sigmoid')")
    box = _warnings(write_study_report(folder).read_text())
    assert "sigmoid stayed at chance level (test accuracy 0.1, chance 0.1)" in box
    assert "relu stayed" not in box


def test_overlapping_intervals_are_warned_about(tmp_path):
    folder = make_study(tmp_path / "close", activations=("relu", "relu6"), seeds=3, spread=0.0)
    box = _warnings(write_study_report(folder).read_text())
    assert "95% CIs overlap" in box and "No activation is separated from the best" in box


def test_a_running_study_shows_what_is_there(tmp_path):
    folder = make_study(tmp_path / "live", seeds=2, unfinished=2)
    with Store(folder / "results.sqlite") as writer:  # the study's writer still has the file open
        running = writer.runs("running")
        writer.record_epoch(running[0]["run_id"], {"epoch": 3, "train_loss": 0.3, "train_acc": 0.9,
                                                   "val_loss": 0.3, "val_acc": 0.9, "test_loss": 0.3,
                                                   "test_acc": 0.9, "seconds": 1.0, "samples": 3000})
        page = write_study_report(folder).read_text()
    assert "<strong>In progress:</strong> 4 of 6 runs finished, 2 running" in page
    assert "The study is still running or was interrupted" in _warnings(page)
    in_progress = [r for r in _rows(page, "runs-table") if 'class="in-progress"' in r]
    assert [_cells(r)[4] for r in in_progress] == ["3 / 4", "2 / 4"]
    # sigmoid has no finished run: not ranked yet, but its recorded epochs are drawn
    assert [_cells(r)[1] for r in _rows(page, "ranking-table")] == ["relu", "gelu"]
    curve = re.search(r'<svg class="chart"[^>]*id="curve-val-acc".*?</svg>', page, re.S).group(0)
    assert "<title>sigmoid (n=2)</title>" in curve


def test_user_text_is_escaped(tmp_path):
    folder = make_study(tmp_path / "<b>x&y</b>", command="actlab compare --out '<script>alert(1)</script>'")
    page = write_study_report(folder).read_text()
    assert "<script>alert(1)" not in page and "<b>x&y</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;x&amp;y&lt;/b&gt;" in page


def test_unreadable_config_json_is_said_not_fatal(tmp_path):
    folder = make_study(tmp_path / "s")
    (folder / "config.json").write_text("{ not json")
    page = write_study_report(folder).read_text()
    assert "config.json is unreadable" in page


def _empty_store(folder):
    folder.mkdir()
    Store(folder / "results.sqlite").close()


def _garbage(folder):
    folder.mkdir()
    (folder / "results.sqlite").write_bytes(b"this is not a database" * 50)


def _foreign_sqlite(folder):
    folder.mkdir()
    with sqlite3.connect(folder / "results.sqlite") as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")


def _no_store(folder):
    folder.mkdir()
    (folder / "summary.csv").write_text("rank\n")


@pytest.mark.parametrize("make,message", [
    (None, "does not exist"),
    (_no_store, "is not a study folder: it has no results.sqlite"),
    (_empty_store, "holds no study yet"),
    (_garbage, "is not a readable actlab results store"),
    (_foreign_sqlite, "it is not an actlab results store"),
])
def test_bad_folders_give_one_clear_line_and_exit_2(tmp_path, capsys, make, message):
    folder = tmp_path / "study"
    if make:
        make(folder)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    with pytest.raises(ReportError, match=message):
        write_study_report(folder)
    assert not (folder / "report.html").exists()
