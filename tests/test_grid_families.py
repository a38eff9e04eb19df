"""A study with a grid is one comparison per grid point: which activation at depth=4, which at depth=16, never
relu at depth=4 against sigmoid at depth=16. The stores are real (results.sqlite through the Store API, registered
from the real compare.Study configuration); the runs' final accuracies are chosen here, so the expected ranking,
paired t p-values and Holm's correction are computed independently with numpy, scipy and statsmodels. A study
without a grid keeps its exact columns and sentence. One real tiny training (--depth 2,3) closes the file."""
import csv
import itertools
import re

import numpy as np
import pytest
import torch
from paths import SHARED_DATA
from scipy import stats as st
from statsmodels.stats.multitest import multipletests

import actlab
from actlab.cli import main
from actlab.compare import build_study, run_study
from actlab.compare.outputs import format_ranking
from actlab.compare.sweep import Study as Sweep
from actlab.report import write_study_report
from actlab.results.summary import SUMMARY_COLUMNS
from actlab.results.verdict_tables import PAIRS_COLUMNS
from actlab.store import Store

ACTS = ("relu", "tanh", "sigmoid")
DEPTHS = (4, 16)
SEEDS = 4
# Final test accuracy per (depth, activation): the order differs between the grid points, and tanh at depth 4
# beats everything at depth 16, so any comparison across grid points would show in the ranks and the pairs.
MEAN = {(4, "relu"): 0.890, (4, "tanh"): 0.900, (4, "sigmoid"): 0.850,
        (16, "relu"): 0.880, (16, "tanh"): 0.800, (16, "sigmoid"): 0.795}
SEED_OFFSET = (0.000, 0.004, -0.003, 0.002)  # shared by every activation of a seed: the paired design
NOISE = np.array([[0.002, -0.001, 0.0015, -0.002], [-0.0015, 0.002, -0.001, 0.001], [0.001, 0.0025, -0.002, -0.001],
                  [0.0005, -0.002, 0.001, 0.0015], [-0.001, 0.001, 0.002, -0.0025], [0.002, 0.0005, -0.0015, 0.001]])


def final_acc(depth: int, activation: str, seed: int) -> float:
    row = 3 * DEPTHS.index(depth) + ACTS.index(activation) if depth in DEPTHS else ACTS.index(activation)
    return MEAN[(depth, activation)] + SEED_OFFSET[seed] + float(NOISE[row, seed])


def make_store(folder, grid, finished=DEPTHS) -> Sweep:
    """A study folder with a real store, every run at a depth in ``finished`` finished after 2 epochs (the
    others left pending); the last epoch has the lowest validation loss, so its test accuracy
    (:func:`final_acc`) is the run's final number."""
    sweep = Sweep(activations=ACTS, seeds=SEEDS, epochs=2, grid=grid)
    folder.mkdir(parents=True, exist_ok=True)
    with Store(folder / "results.sqlite") as store:
        store.ensure_study(sweep.study_id(), sweep.config(), "actlab compare", actlab.__version__)
        store.add_runs(sweep.runs())
        for run in store.runs():
            depth = (run["grid"] or {}).get("depth", 4)
            for epoch in (1, 2) if depth in finished else ():
                acc = final_acc(depth, run["activation"], run["seed"]) - 0.1 * (2 - epoch)
                store.record_epoch(run["run_id"], {
                    "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc, "val_loss": 0.5 / epoch,
                    "val_acc": acc, "test_loss": 0.5 / epoch, "test_acc": acc, "seconds": 1.0, "samples": 100})
    return sweep


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    make_store(root / "grid", (("depth", DEPTHS),))
    make_store(root / "depth4", (("depth", (4,)),))  # one grid point: one family, as before
    make_store(root / "nogrid", ())
    make_store(root / "running", (("depth", DEPTHS),), finished=(4,))  # depth=16 not started yet
    for name in ("grid", "depth4", "nogrid", "running"):
        actlab.load(root / name).write_tables(root / name)
    return root


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def values(depth: int, activation: str) -> np.ndarray:
    return np.array([final_acc(depth, activation, s) for s in range(SEEDS)])


def test_no_pair_crosses_grid_points(folders):
    header, pairs = read_csv(folders / "grid" / "pairs.csv")
    assert header == ["grid", *PAIRS_COLUMNS]
    assert len(pairs) == len(DEPTHS) * 3  # three pairs per grid point, none across
    for p in pairs:
        assert p["better"].endswith(f" [{p['grid']}]") and p["worse"].endswith(f" [{p['grid']}]")
    study = actlab.load(folders / "grid")
    assert all(r.a.split(" [")[1] == r.b.split(" [")[1] for r in study.verdict.pairs)


def test_ranks_restart_at_one_per_grid_point_in_grid_order(folders):
    _, rows = read_csv(folders / "grid" / "summary.csv")
    expected = [(f"depth={d}", f"{a} [depth={d}]", str(i))
                for d in DEPTHS for i, a in enumerate(sorted(ACTS, key=lambda a: -values(d, a).mean()), 1)]
    assert [(r["grid"], r["label"], r["rank"]) for r in rows] == expected
    assert expected[0][1] == "tanh [depth=4]" and expected[3][1] == "relu [depth=16]"
    for r in rows:  # "vs best" is against the grid point's own best
        d = int(r["grid"].split("=")[1])
        best = max(ACTS, key=lambda a: values(d, a).mean())
        if r["rank"] != "1":
            diff = values(d, best) - values(d, r["activation"])
            assert float(r["diff_vs_best_points"]) == pytest.approx(100 * diff.mean(), rel=1e-9)


def test_p_best_sums_to_one_within_each_grid_point(folders):
    _, rows = read_csv(folders / "grid" / "summary.csv")
    for d in DEPTHS:
        assert sum(float(r["p_best"]) for r in rows if r["grid"] == f"depth={d}") == pytest.approx(1.0, abs=1e-9)
    p_best = actlab.load(folders / "grid").p_best
    assert sum(p_best.values()) == pytest.approx(len(DEPTHS), abs=1e-9)


def test_holm_within_a_grid_point_matches_statsmodels_on_its_own_p_values(folders):
    _, pairs = read_csv(folders / "grid" / "pairs.csv")
    for d in DEPTHS:
        combos = list(itertools.combinations(ACTS, 2))
        p = [st.ttest_rel(values(d, a), values(d, b)).pvalue for a, b in combos]
        holm = multipletests(p, method="holm")[1]
        got = {frozenset((r["better"], r["worse"])): r for r in pairs if r["grid"] == f"depth={d}"}
        for (a, b), raw, want in zip(combos, p, holm):
            row = got[frozenset((f"{a} [depth={d}]", f"{b} [depth={d}]"))]
            assert row["design"] == "paired"
            assert float(row["p_paired_t"]) == pytest.approx(raw, rel=1e-9)
            assert float(row["p_holm"]) == pytest.approx(want, rel=1e-9)


def test_the_sentence_has_a_paragraph_per_grid_point(folders):
    study = actlab.load(folders / "grid")
    paragraphs = study.sentence.split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == ["At depth=4", "At depth=16"]
    assert paragraphs[0].startswith("At depth=4: use tanh") and paragraphs[1].startswith("At depth=16: use relu")
    assert "[depth=" not in study.sentence  # the grid point is said once, in front
    printed = format_ranking(study.summary)
    assert "at depth=4:" in printed.splitlines() and "at depth=16:" in printed.splitlines()
    assert "At depth=16: use relu" in printed.replace("\n", " ")
    assert "at depth=4:" in repr(study)


def test_a_grid_point_without_a_finished_run_is_named_as_such(folders):
    study = actlab.load(folders / "running")
    assert [r["grid"] for r in study.summary.rows] == ["depth=4"] * 3
    assert study.sentence.split("\n\n")[1] == "At depth=16: no activation finished a run yet."
    assert read_csv(folders / "running" / "pairs.csv")[0][0] == "grid"


def test_a_single_grid_point_and_no_grid_keep_one_family_and_their_columns(folders):
    for name in ("depth4", "nogrid"):
        study = actlab.load(folders / name)
        assert read_csv(folders / name / "pairs.csv")[0] == list(PAIRS_COLUMNS)
        assert read_csv(folders / name / "summary.csv")[0] == list(SUMMARY_COLUMNS)
        assert study.summary.grids == [] and study.verdict.families == ()
        assert study.sentence.startswith("Use tanh") and "\n" not in study.sentence
        assert "at depth" not in format_ranking(study.summary)
    # the grid point depth=4 of the two-point study is exactly the study of depth=4 alone
    alone, both = actlab.load(folders / "depth4"), actlab.load(folders / "grid")
    assert both.summary.rows[:3] == alone.summary.rows
    assert [{k: v for k, v in p.items() if k != "grid"} for p in both.summary.pairs[:3]] == alone.summary.pairs
    assert both.sentence.split("\n\n")[0] == "At depth=4: u" + alone.sentence.replace(" [depth=4]", "")[1:]


def test_the_report_groups_the_ranking_and_the_heatmaps_by_grid_point(folders):
    page = write_study_report(folders / "grid").read_text()
    for i, d in enumerate(DEPTHS, 1):
        table = re.search(rf'<table id="ranking-table-{i}".*?</table>', page, re.S).group(0)
        assert set(re.findall(r"\[depth=(\d+)\]", table)) == {str(d)}
        heat = re.search(rf'<svg[^>]*id="pairs-heatmap-{i}".*?</svg>', page, re.S).group(0)
        assert set(re.findall(r"\[depth=(\d+)\]", heat)) == {str(d)}
    assert 'id="ranking-table"' not in page


def test_racing_a_grid_of_two_points_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "race"
    assert main(["compare", "--task", "deep-mlp", "--profile", "test", "--depth", "2,3", "--until-decided",
                 "--data-dir", str(SHARED_DATA), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "race one grid point at a time, e.g. --depth 2" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (out / "results.sqlite").exists()


def test_a_real_depth_sweep_compares_within_each_depth(tmp_path):
    torch.set_num_threads(1)
    study = build_study("test", task="deep-mlp", data_dir=str(SHARED_DATA), activations=("relu", "tanh"),
                        grid=(("depth", (2, 3)),), seeds=2, epochs=1, train_limit=500)
    run_study(study, tmp_path, workers=1, quiet=True)
    loaded = actlab.load(tmp_path)
    assert [(r["grid"], r["rank"]) for r in loaded.summary.rows] == [("depth=2", 1), ("depth=2", 2),
                                                                      ("depth=3", 1), ("depth=3", 2)]
    header, pairs = read_csv(tmp_path / "pairs.csv")
    assert header[0] == "grid" and [p["grid"] for p in pairs] == ["depth=2", "depth=3"]
    assert [p.split(":")[0] for p in loaded.sentence.split("\n\n")] == ["At depth=2", "At depth=3"]
