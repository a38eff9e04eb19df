"""actlab list / show / plot through actlab.cli.main, as a user would run them."""
import csv
import io
import json

import pytest
from PIL import Image

import actlab
from actlab.cli import main


def test_list_table_has_one_row_per_activation(capsys):
    assert main(["list", "--no-cost"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["name", "family", "range"]
    assert len(lines) == 2 + len(actlab.names())
    relu = next(line for line in lines if line.startswith("relu "))
    assert relu.split()[1:4] == ["rectifier", "[0,", "inf)"] and relu.split()[-1] == "n/a"


def test_list_csv_json_and_markdown(capsys):
    assert main(["list", "--no-cost", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in rows] == actlab.names()
    tanh = next(r for r in rows if r["name"] == "tanh")
    assert (tanh["range"], tanh["zero-centred"], tanh["saturates"]) == ("(-1, 1)", "yes", "both")

    assert main(["list", "--no-cost", "--format", "json"]) == 0
    data = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert data["sigmoid"]["max_slope"] == pytest.approx(0.25)
    assert data["relu"]["dead"] == [["-inf", 0.0]] and data["relu"]["cost"] is None

    assert main(["list", "--no-cost", "--format", "markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0].startswith("| name | family | range |") and md[1].startswith("|---|")


def test_list_shows_measured_cost(capsys, monkeypatch):
    # the measurement itself is cost.py's (and its tests'); here: that list shows what it returns
    import actlab.catalog.cost as cost

    monkeypatch.setattr(cost, "relative_cost", lambda names, **kw: {n: 1.5 for n in names})
    assert main(["list", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["cost"] for r in rows} == {"1.50"}


def test_show_prints_formulas_parameters_properties(capsys):
    assert main(["show", "ELU:alpha=0.2", "--no-cost"]) == 0
    out = capsys.readouterr().out
    assert "[elu:alpha=0.2]" in out
    assert "LaTeX:     f(x) = \\begin{cases}" in out  # LaTeX ...
    assert "α (e^x - 1) if x ≤ 0" in out  # ... and the readable form
    assert "alpha = 0.2  (default 1.0, range [0.0, inf))" in out
    assert "range         (-0.2, inf)" in out and "jump in f' at x = 0" in out
    assert "pros:" in out and "references:" in out


def test_show_gelu_reports_its_minimum(capsys):
    assert main(["show", "gelu", "--no-cost"]) == 0
    out = capsys.readouterr().out
    assert "local min f(-0.751792) = -0.169971" in out


@pytest.mark.parametrize("argv, message", [
    (["show", "gelux"], "unknown activation 'gelux'; did you mean 'gelu'"),
    (["show", "elu:alpha=-1"], "outside its valid range"),
    (["show", "elu:beta=1"], "unknown parameter(s) 'beta'"),
    (["plot", "nosuch", "--out", "unused"], "unknown activation 'nosuch'"),
    (["plot"], "pass --all"),
    (["plot", "relu", "--format", "gif"], "unknown figure format"),
])
def test_bad_input_exits_2_with_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "unused").exists()  # nothing written before the names are checked


def test_plot_writes_one_figure_per_activation(capsys, tmp_path):
    out = tmp_path / "figs"
    assert main(["plot", "gelu", "elu:alpha=0.5", "--out", str(out), "--format", "png,svg",
                 "--style", "dark", "--dpi", "40"]) == 0
    assert "wrote 4 files" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["elu_alpha-0.5.png", "elu_alpha-0.5.svg",
                                                      "gelu.png", "gelu.svg"]
    with Image.open(out / "gelu.png") as im:
        im.verify()
