"""Every reader of a study honours its metric (issue 12): a char-lm study ranks by bits per character, where
LOWER is better and the range is [0, inf). The stores here are real (results.sqlite through the Store API,
registered from the real compare.Study configuration); the runs' numbers are chosen, so the expected ranking,
intervals, p-values, effect sizes and halving decisions are computed independently here with numpy and scipy,
never by actlab's statistics. A classification study alongside must keep its accuracy columns and words."""
import csv
import html
import math
import re

import numpy as np
import pytest
from scipy import special
from scipy import stats as st

import actlab
from actlab.cli import main
from actlab.compare.asha import Asha, AshaExecutor, Ladder, replay
from actlab.compare.halving import decide_rung
from actlab.compare.outputs import format_ranking, summarize
from actlab.compare.sweep import Study as Sweep
from actlab.report import write_study_report
from actlab.report.suite_page import task_columns, write_suite_page
from actlab.results.metric import metric_of
from actlab.results.summary import SUMMARY_COLUMNS
from actlab.results.verdict.sentence import mean_interval
from actlab.results.verdict_tables import PAIRS_COLUMNS
from actlab.store import Store

ACTS = ("gelu", "relu", "relu_squared", "silu", "swiglu", "geglu")
# Final test bits per character of each activation (lower is better) and a per-seed offset shared by every
# activation (a seed that makes the data order easy helps all of them: the paired design), plus small noise.
BPC = {"gelu": 2.110, "relu": 2.300, "relu_squared": 2.125, "silu": 2.115, "swiglu": 2.050, "geglu": 2.070}
SEED_OFFSET = (0.000, 0.030, -0.020)
NOISE = np.array([[0.004, -0.003, 0.002], [-0.002, 0.005, -0.004], [0.003, 0.001, -0.006],
                  [-0.005, 0.002, 0.004], [0.001, -0.004, 0.003], [0.002, 0.003, -0.001]])
ALPHA = 0.05


def final_bpc(activation: str, seed: int) -> float:
    return BPC[activation] + SEED_OFFSET[seed] + float(NOISE[ACTS.index(activation), seed])


def make_store(folder, values, *, task="char-lm", metric="bits_per_char", direction="min", epochs=2,
               dataset="text:kjv", stored=None) -> Sweep:
    """A study folder with a real store: the study registered from the real compare.Study configuration, every
    run finished with ``epochs`` epochs (or left unfinished after ``stored`` of them).
    ``values(activation, seed, epoch)`` gives (val, test) of the metric;
    the validation loss falls every epoch, so the last epoch is each run's best."""
    sweep = Sweep(activations=ACTS, seeds=3, epochs=epochs, task=task, metric=metric, direction=direction,
                  dataset=dataset, model="transformer" if task == "char-lm" else "mlp")
    folder.mkdir(parents=True, exist_ok=True)
    with Store(folder / "results.sqlite") as store:
        store.ensure_study(sweep.study_id(), sweep.config(), f"actlab compare --task {task}", actlab.__version__)
        store.add_runs(sweep.runs())
        for run in store.runs():
            for epoch in range(1, (stored or epochs) + 1):
                val, test = values(run["activation"], run["seed"], epoch)
                store.record_epoch(run["run_id"], {
                    "epoch": epoch, "train_loss": 2.0 / epoch, "train_acc": val, "val_loss": 1.5 / epoch,
                    "val_acc": val, "test_loss": 1.5 / epoch, "test_acc": test, "seconds": 1.0, "samples": 1000})
    return sweep


def bpc_values(activation, seed, epoch, epochs=2):
    """Validation and test bpc: higher early, the chosen final value at the last epoch."""
    final = final_bpc(activation, seed)
    return final + 0.3 * (epochs - epoch), final + 0.3 * (epochs - epoch)


@pytest.fixture(scope="module")
def charlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("direction") / "charlm"
    make_store(folder, bpc_values)
    return folder


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def observed() -> dict:
    return {a: np.array([final_bpc(a, s) for s in range(3)]) for a in ACTS}


def test_the_ranking_puts_the_lowest_bits_per_character_first(charlm):
    study = actlab.load(charlm)
    assert study.metric.name == "bits_per_char" and not study.metric.higher_is_better
    expected = sorted(ACTS, key=lambda a: observed()[a].mean())
    assert [r["label"] for r in study.summary.rows] == expected
    assert expected[0] == "swiglu" and expected[-1] == "relu"
    assert list(study.ranking["label"]) == expected


def test_summary_csv_names_the_columns_by_the_metric_and_holds_its_numbers(charlm, tmp_path):
    study = actlab.load(charlm)
    study.write_tables(tmp_path)
    header, rows = read_csv(tmp_path / "summary.csv")
    assert not [c for c in header if "acc" in c or "points" in c], header
    for name in ("test_bpc_mean", "test_bpc_std", "test_bpc_ci_low", "test_bpc_ci_high", "bpc_ci_low",
                 "bpc_ci_high", "diff_vs_best_bpc", "diff_vs_best_ci_low", "diff_vs_best_ci_high"):
        assert name in header
    assert len(header) == len(SUMMARY_COLUMNS)
    x = observed()
    for row in rows:
        v = x[row["label"]]
        assert float(row["test_bpc_mean"]) == pytest.approx(v.mean(), rel=1e-12)
        assert float(row["test_bpc_std"]) == pytest.approx(v.std(ddof=1), rel=1e-12)
        low, high = st.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=st.sem(v))
        # the plain t interval, and the verdict's interval: the same t interval cut to [0, inf) (no cut here)
        assert (float(row["test_bpc_ci_low"]), float(row["test_bpc_ci_high"])) == pytest.approx((low, high))
        assert (float(row["bpc_ci_low"]), float(row["bpc_ci_high"])) == pytest.approx((low, high))
    best = rows[0]["label"]
    for row in rows[1:]:  # this one minus... the best minus this one, in bpc: negative, the best is lower
        d = x[best] - x[row["label"]]
        assert float(row["diff_vs_best_bpc"]) == pytest.approx(d.mean(), rel=1e-9)
        assert float(row["diff_vs_best_bpc"]) < 0
        half = st.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
        assert float(row["diff_vs_best_ci_low"]) == pytest.approx(d.mean() - half, rel=1e-9)
        assert float(row["p_pair_vs_best"]) == pytest.approx(st.ttest_rel(x[best], x[row["label"]]).pvalue,
                                                             rel=1e-9)


def test_the_interval_of_a_positive_metric_is_the_t_interval_cut_at_zero():
    values = [0.01, 0.2, 0.03]
    mean, low, high = mean_interval(values, bounds=(0.0, math.inf))
    t_low, t_high = st.t.interval(0.95, 2, loc=np.mean(values), scale=st.sem(values))
    assert t_low < 0 and low == 0.0 and high == pytest.approx(t_high)
    assert mean_interval([2.1, 2.2, 2.4], bounds=(0.0, math.inf))[1:] == pytest.approx(
        st.t.interval(0.95, 2, loc=np.mean([2.1, 2.2, 2.4]), scale=st.sem([2.1, 2.2, 2.4])))


def test_the_verdict_calls_the_lower_bpc_activation_better_with_the_paired_t(charlm, tmp_path):
    study = actlab.load(charlm)
    study.write_tables(tmp_path)
    header, pairs = read_csv(tmp_path / "pairs.csv")
    assert "diff_bpc" in header and "detectable_bpc" in header and not [c for c in header if "points" in c]
    assert len(header) == len(PAIRS_COLUMNS)
    x = observed()
    assert len(pairs) == 15
    for p in pairs:
        a, b = x[p["better"]], x[p["worse"]]
        assert a.mean() < b.mean(), "better means lower bits per character"
        assert float(p["diff_bpc"]) == pytest.approx((a - b).mean(), rel=1e-9)
        assert float(p["p_paired_t"]) == pytest.approx(st.ttest_rel(a, b).pvalue, rel=1e-9)
    relu = [p for p in pairs if "relu" in (p["better"], p["worse"])]
    assert all(p["worse"] == "relu" and p["separated"] == "yes" for p in relu)
    sentence = study.sentence
    assert "relu is worse than every other (Holm" in sentence
    assert "points" not in sentence and "accuracy" not in sentence
    # swiglu and geglu lead; their difference is written in bpc, swiglu minus geglu (negative: swiglu lower)
    assert sentence.startswith("Use swiglu or geglu: they are not separable with 3 seeds (paired; difference ")
    d = observed()["swiglu"] - observed()["geglu"]
    assert f"difference {d.mean():.3g} bits per character" in sentence
    assert max(study.p_best, key=study.p_best.get) == "swiglu"


def test_the_printout_and_repr_name_bits_per_character(charlm):
    with Store(charlm / "results.sqlite", readonly=True) as store:
        text = format_ranking(summarize(store))
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0])[:4] == ["rank (95%)", "activation", "n", "bpc"]
    assert lines[2].split()[1] == "swiglu" and lines[-1].split()[1] != "swiglu"
    swiglu = observed()["swiglu"].mean()
    assert f"{swiglu:.4g}" in lines[2]
    relu_line = next(line for line in lines if line.split()[1:2] == ["relu"])
    diff = (observed()["relu"] - observed()["swiglu"]).mean()
    assert f"{diff:+.3g}" in relu_line and relu_line.endswith("worse")  # this one minus the best: +, worse
    assert "bits per character" in text and "lower is better" in text
    assert "accuracy" not in text and "chance" not in text
    shown = repr(actlab.load(charlm))
    assert "ranked by bits per character, lower is better" in shown and "test bpc" in shown


def test_synchronous_halving_stops_the_highest_bpc(tmp_path):
    """Rung 1 of 3 epochs, eta 3: the 2 lowest validation bpc go on, the 4 highest stop."""
    rung1 = {"gelu": 2.9, "relu": 3.4, "relu_squared": 2.5, "silu": 3.1, "swiglu": 2.6, "geglu": 3.0}

    def values(activation, seed, epoch):
        v = rung1[activation] + 0.01 * seed - 0.2 * (epoch - 1)
        return v, v

    folder = tmp_path / "halving"
    make_store(folder, values, epochs=3, stored=1)  # every run trained to the rung, none finished
    with Store(folder / "results.sqlite") as store:
        decide_rung(store, Asha(eta=3), 1)
        stopped = {r["activation"] for r in store.runs() if r["status"] == "stopped"}
        reasons = {s["reason"] for s in store.stopped_runs().values()}
    means = {a: np.mean([rung1[a] + 0.01 * s for s in range(3)]) for a in ACTS}
    assert stopped == set(sorted(ACTS, key=means.get)[2:])
    assert stopped == {"relu", "silu", "geglu", "gelu"}
    assert all("mean val_bpc" in r for r in reasons), reasons


def test_asynchronous_asha_promotes_the_lowest_bpc(charlm):
    ladder = Ladder(Asha(eta=2), higher_is_better=False, column="val_bpc")
    assert ladder.report("a", 1, 2.5)[0]  # the first at a rung goes on
    go, why = ladder.report("b", 1, 3.0)  # keep 1 of 2: the higher bpc stops
    assert not go and "val_bpc 3.0000" in why and "cutoff 2.5000" in why
    assert ladder.report("c", 1, 2.0)[0]
    # the store of a bpc study tells the executor which way is better
    with Store(charlm / "results.sqlite", readonly=True) as store:
        state = replay(store, Asha())
    assert state.higher_is_better is False and state.column == "val_bpc"
    assert AshaExecutor(None, Asha(), higher_is_better=state.higher_is_better).ladder.higher_is_better is False


def test_the_report_speaks_of_bits_per_character(charlm):
    path = write_study_report(charlm)
    text = path.read_text()
    visible = html.unescape(re.sub(r"<[^>]+>", " ", text))
    assert "bits per character" in visible
    assert "accuracy" not in visible.lower(), [m.start() for m in re.finditer("accuracy", visible.lower())]
    assert "Validation bits per character" in visible and "test bpc" in visible
    # the heatmap: relu's row is worse than every column, so every relu cell is red (row worse), whatever the sign
    cells = re.findall(r"<title>relu - (\w+): ([+-][\d.e-]+) bpc[^<]*</title><rect[^>]*fill=\"rgb\((\d+),(\d+),(\d+)\)",
                       text)
    assert len(cells) == 5
    for _, diff, r, g, b in cells:
        assert float(diff) > 0 and int(r) > int(b), "row worse: red, though its bpc difference is positive"


def hedges_gz(d: np.ndarray) -> float:
    """Hedges' g_z of paired differences: mean / SD times J(n - 1) (Hedges & Olkin 1985)."""
    df = len(d) - 1
    j = special.gamma(df / 2) / (math.sqrt(df / 2) * special.gamma((df - 1) / 2))
    return float(d.mean() / d.std(ddof=1) * j)


def test_the_suite_page_reads_negative_as_worse_for_both_directions(tmp_path):
    """One accuracy task (max) and the bpc task (min) on one page: relu is the worst in both, its g negative."""
    acc = {"gelu": 0.97, "relu": 0.90, "relu_squared": 0.95, "silu": 0.96, "swiglu": 0.975, "geglu": 0.965}

    def acc_values(activation, seed, epoch):
        v = acc[activation] + 0.3 * SEED_OFFSET[seed] + float(NOISE[ACTS.index(activation), seed])
        return v, v

    make_store(tmp_path / "seed-cnn", acc_values, task="seed-cnn", metric="accuracy", direction="max",
               dataset="mnist-small")
    make_store(tmp_path / "char-lm", bpc_values)
    for task, best in (("seed-cnn", "swiglu"), ("char-lm", "swiglu")):
        (column,) = task_columns(task, tmp_path / task, tmp_path)
        assert column.best == best
        for a in ACTS:
            if a == best:
                continue
            if task == "char-lm":
                d = -(observed()[a] - observed()[best])  # turned: lower bpc is better
            else:
                d = np.array([acc_values(a, s, 2)[1] - acc_values(best, s, 2)[1] for s in range(3)])
            assert column.cells[a][0] == pytest.approx(hedges_gz(d), rel=1e-9)
            assert column.cells[a][0] < 0, "worse than the best reads negative"
    page = write_suite_page(tmp_path, {"seed-cnn": tmp_path / "seed-cnn", "char-lm": tmp_path / "char-lm"},
                            ACTS).read_text()
    for task in ("seed-cnn", "char-lm"):
        (g,) = re.findall(rf'data-task="{task}" data-activation="relu" data-g="([^"]+)"', page)
        assert float(g) < 0, task
    assert "bits per character" in page and "lower is better" in page


def test_a_classification_study_keeps_its_columns_and_words(tmp_path):
    acc = {"gelu": 0.97, "relu": 0.90, "relu_squared": 0.95, "silu": 0.96, "swiglu": 0.975, "geglu": 0.965}

    def values(activation, seed, epoch):
        v = acc[activation] + float(NOISE[ACTS.index(activation), seed])
        return v, v

    sweep = make_store(tmp_path / "cls", values, task="seed-cnn", metric="accuracy", direction="max",
                       dataset="mnist-small")
    assert "metric" not in sweep.config() and "direction" not in sweep.config()  # ids as before tasks
    study = actlab.load(tmp_path / "cls")
    study.write_tables(tmp_path / "cls")
    assert tuple(read_csv(tmp_path / "cls" / "summary.csv")[0]) == SUMMARY_COLUMNS
    assert tuple(read_csv(tmp_path / "cls" / "pairs.csv")[0]) == PAIRS_COLUMNS
    assert study.metric == metric_of({})
    assert study.summary.rows[0]["label"] == "swiglu"
    text = format_ranking(study.summary)
    assert re.split(r"\s{2,}", text.splitlines()[0])[:4] == ["rank (95%)", "activation", "n", "acc"]
    assert "accuracy points" in text and "bits per character" not in text
    # differences in accuracy points: 100 x the paired mean difference
    best = np.array([values("swiglu", s, 2)[1] for s in range(3)])
    relu = np.array([values("relu", s, 2)[1] for s in range(3)])
    row = next(r for r in study.summary.rows if r["label"] == "relu")
    assert row["diff_vs_best_points"] == pytest.approx(100 * (best - relu).mean())


def test_a_fit_study_end_to_end_ranks_the_lowest_rmse_first(tmp_path, capsys, one_thread):
    """The fit task trained for real (its test profile, in this process): the printout, summary.csv and the
    report follow RMSE outside the training box, lower first; the ranking is recomputed here from
    history.csv (each run's test value at its lowest-validation-loss epoch), not from actlab's summary."""
    out = tmp_path / "fit"
    assert main(["compare", "--task", "fit", "--profile", "test", "--workers", "1", "--quiet", "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    _, history = read_csv(out / "history.csv")
    final: dict = {}
    for run in {r["run_id"] for r in history}:
        rows = [r for r in history if r["run_id"] == run]
        best = min(rows, key=lambda r: (float(r["val_loss"]), int(r["epoch"])))
        final.setdefault(best["label"], []).append(float(best["test_acc"]))  # *_acc holds the metric
    expected = sorted(final, key=lambda k: np.mean(final[k]))
    header, summary = read_csv(out / "summary.csv")
    assert "test_rmse_mean" in header and "test_acc_mean" not in header
    assert [r["label"] for r in summary] == expected
    for r in summary:
        assert float(r["test_rmse_mean"]) == pytest.approx(np.mean(final[r["label"]]), rel=1e-12)
    lines = printed.splitlines()
    assert re.split(r"\s{2,}", lines[0])[:4] == ["rank (95%)", "activation", "n", "rmse"]
    assert re.split(r"\s{2,}", lines[2])[1] == expected[0]
    assert "root mean squared error outside the training box" in printed and "accuracy" not in printed.lower()
    report = html.unescape(re.sub(r"<[^>]+>", " ", (out / "report.html").read_text()))
    assert "root mean squared error" in report and "accuracy" not in report.lower()
