"""The verdict where users meet it: summary.csv's new columns, pairs.csv, actlab.load, the printed ranking and the
report, on a real small study (MLP on an MNIST slice). Expected values come from scipy and statsmodels applied to
the runs' final accuracies read back from history.csv, never from actlab's own statistics."""
import csv
import html
import itertools
import math
import re

import numpy as np
import pytest
from paths import MNIST_DIR
from scipy import special
from scipy import stats as st
from scipy.integrate import quad
from statsmodels.stats.multitest import multipletests

import actlab
from actlab.cli import main
from actlab.compare.outputs import format_ranking, summarize
from actlab.report import write_study_report
from actlab.results.verdict import compare_pair
from actlab.store import Store

SAME = ("relu", "leaky_relu:negative_slope=0")  # two labels of one function
LABELS = (*SAME, "gelu", "tanh")
ALPHA = 0.05


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """4 activations x 3 seeds x 1 epoch of a width-32 MLP on 1,000 MNIST training images."""
    folder = tmp_path_factory.mktemp("wiring") / "study"
    flags = ["compare", "--dataset", "mnist", "--data-dir", str(MNIST_DIR), "--model", "mlp", "--width", "32",
             "--activations", ",".join(LABELS), "--seeds", "3", "--epochs", "1", "--train-limit", "1000",
             "--workers", "1", "--quiet", "--out", str(folder)]
    assert main(flags) == 0
    return folder


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(text):
    return math.nan if text == "" else float(text)


def finals(folder) -> dict:
    """{label: {seed: final test accuracy}}, by the protocol, from history.csv alone."""
    out = {}
    for (label, seed), rows in itertools.groupby(
            sorted(read_csv(folder / "history.csv"), key=lambda r: (r["label"], int(r["seed"]))),
            key=lambda r: (r["label"], int(r["seed"]))):
        best = min(rows, key=lambda r: (float(r["val_loss"]), int(r["epoch"])))
        out.setdefault(label, {})[seed] = float(best["test_acc"])
    return out


def paired_p(a: dict, b: dict) -> float:
    """scipy's paired t p-value; identical runs (every difference 0) are 'no difference', p = 1, by definition."""
    d = np.array([a[s] - b[s] for s in sorted(a)])
    return 1.0 if not d.any() else float(st.ttest_rel([a[s] for s in sorted(a)], [b[s] for s in sorted(a)]).pvalue)


def paired_power(effect: float, n: int, alpha: float) -> float:
    """Two-sided one-sample t power by integrating the normal over the chi-square of the SD (Cohen 1988, ch. 2):
    T' = (Z + effect sqrt n) / sqrt(V / df). statsmodels' TTestPower returns NaN this far in the tails."""
    df, lam = n - 1, effect * math.sqrt(n)
    c = st.t.ppf(1 - alpha / 2, df)

    def reject(v):
        s = c * math.sqrt(v / df)
        return (st.norm.sf(s - lam) + st.norm.cdf(-s - lam)) * st.chi2.pdf(v, df)

    return quad(reject, 0, math.inf, epsabs=1e-12)[0]


def hedges_j(df):
    return special.gamma(df / 2) / (math.sqrt(df / 2) * special.gamma((df - 1) / 2))


def test_pairs_csv_matches_scipy_and_statsmodels(study):
    acc = finals(study)
    rows = read_csv(study / "pairs.csv")
    assert len(rows) == 6 and {frozenset((r["better"], r["worse"])) for r in rows} == {
        frozenset(p) for p in itertools.combinations(LABELS, 2)}
    p_raw = [paired_p(acc[r["better"]], acc[r["worse"]]) for r in rows]
    holm = multipletests(p_raw, method="holm")[1]
    for r, p, p_holm in zip(rows, p_raw, holm):
        a, b = acc[r["better"]], acc[r["worse"]]
        d = np.array([a[s] - b[s] for s in sorted(a)])
        assert r["design"] == "paired" and r["n_seeds"] == "3" and r["p_welch"] == ""
        assert num(r["diff_points"]) == pytest.approx(100 * d.mean(), abs=1e-9)
        assert d.mean() >= 0  # oriented better first
        assert num(r["p_paired_t"]) == pytest.approx(p, rel=1e-9)
        assert num(r["p_holm"]) == pytest.approx(p_holm, rel=1e-9)
        assert r["separated"] == ("yes" if p_holm < ALPHA else "no")
        if not d.any():  # identical runs: a zero difference with zero spread is "not different", never NaN
            assert num(r["familywise_ci_low_points"]) == num(r["familywise_ci_high_points"]) == 0
            assert r["detectable_points"] == r["seeds_needed"] == ""
            continue
        ref = st.ttest_rel(list(a.values()), list(b.values()))
        ci, sim = ref.confidence_interval(0.95), ref.confidence_interval(1 - ALPHA / 6)
        assert (num(r["ci_low_points"]), num(r["ci_high_points"])) == pytest.approx((100 * ci.low, 100 * ci.high))
        assert (num(r["familywise_ci_low_points"]), num(r["familywise_ci_high_points"])) == pytest.approx(
            (max(-100, 100 * sim.low), min(100, 100 * sim.high)))
        assert num(r["p_wilcoxon"]) == pytest.approx(st.wilcoxon(d).pvalue)
        sd = d.std(ddof=1)
        assert num(r["hedges_g"]) == pytest.approx(hedges_j(2) * d.mean() / sd, rel=1e-9)
        t = d.mean() / (sd / math.sqrt(3))  # the g interval inverts the noncentral t at the observed t
        assert st.nct.cdf(t, 2, num(r["hedges_g_ci_low"]) * math.sqrt(3)) == pytest.approx(0.975, abs=1e-6)
        assert st.nct.cdf(t, 2, num(r["hedges_g_ci_high"]) * math.sqrt(3)) == pytest.approx(0.025, abs=1e-6)
        if r["separated"] == "no":  # power at the Bonferroni level
            level = ALPHA / 6
            detect = num(r["detectable_points"]) / 100
            assert paired_power(detect / sd, 3, level) == pytest.approx(0.8, abs=1e-5)
            if r["seeds_needed"]:
                n = int(r["seeds_needed"])
                assert paired_power(d.mean() / sd, n, level) >= 0.8 - 1e-9
                assert paired_power(d.mean() / sd, n - 1, level) < 0.8


def test_summary_columns_compare_each_activation_with_the_best(study):
    acc = finals(study)
    rows = read_csv(study / "summary.csv")
    best = rows[0]["label"]
    assert rows[0]["design_vs_best"] == "" and rows[0]["diff_vs_best_points"] == ""
    pairs = list(itertools.combinations(LABELS, 2))
    holm = dict(zip(pairs, multipletests([paired_p(acc[x], acc[y]) for x, y in pairs], method="holm")[1]))
    p_best = 0.0
    for r in rows:
        p_best += num(r["p_best"])
        assert 1 <= int(r["rank_low"]) <= int(r["rank_high"]) <= 4
        x = np.array(list(acc[r["label"]].values()))
        ell = special.logit(x)  # the range-respecting interval, computed here on the logit scale
        half = st.t.ppf(0.975, 2) * ell.std(ddof=1) / math.sqrt(3)
        assert (num(r["acc_ci_low"]), num(r["acc_ci_high"])) == pytest.approx(
            (special.expit(ell.mean() - half), special.expit(ell.mean() + half)), rel=1e-9)
        assert 0 < num(r["acc_ci_low"]) < num(r["acc_ci_high"]) < 1
        if r["label"] == best:
            continue
        d = np.array([acc[best][s] - acc[r["label"]][s] for s in range(3)])
        assert r["design_vs_best"] == "paired"
        assert num(r["diff_vs_best_points"]) == pytest.approx(100 * d.mean(), abs=1e-9)
        assert num(r["p_pair_vs_best"]) == pytest.approx(paired_p(acc[best], acc[r["label"]]), rel=1e-9)
        key = next(k for k in holm if set(k) == {best, r["label"]})
        assert num(r["p_holm_pairs"]) == pytest.approx(holm[key], rel=1e-9)
        # the older columns stay: Welch against the best, as before
        assert num(r["p_vs_best"]) == pytest.approx(
            st.ttest_ind(list(acc[best].values()), x, equal_var=False).pvalue, rel=1e-6)
    assert p_best == pytest.approx(1.0)


def test_two_labels_of_one_function_are_never_declared_different(study):
    rows = {frozenset((r["better"], r["worse"])): r for r in read_csv(study / "pairs.csv")}
    same = rows[frozenset(SAME)]
    assert same["separated"] == "no" and not math.isnan(num(same["p_holm"]))
    sentence = actlab.load(study).sentence
    assert "worse than" not in sentence or not re.search(
        r"(relu|leaky_relu:negative_slope=0) is worse than [^.]*\b(relu|leaky_relu:negative_slope=0)\b", sentence)
    # exactly identical runs: zero variance gives "no difference" (p = 1), not NaN and not a crash
    a = {0: 0.91, 1: 0.93, 2: 0.92}
    r = compare_pair(a, dict(a))
    assert (r.p, r.diff, r.ci_low, r.ci_high, r.separated()) == (1.0, 0.0, 0.0, 0.0, False)


def test_results_api_exposes_the_verdict(study):
    s = actlab.load(study)
    pairs = read_csv(study / "pairs.csv")
    assert list(s.pairs.columns) == list(pairs[0]) and len(s.pairs) == len(pairs)
    assert s.pairs["better"].tolist() == [r["better"] for r in pairs]
    assert s.verdict.sentence == s.sentence and s.sentence.startswith("Use ")
    assert set(s.p_best) == set(LABELS) and sum(s.p_best.values()) == pytest.approx(1.0)
    assert s.sentence[:40] in " ".join(repr(s).split())
    assert html.escape(s.sentence) in s._repr_html_()


def test_printed_ranking_leads_with_the_verdict_in_100_columns(study):
    with Store(study / "results.sqlite", readonly=True) as store:
        text = format_ranking(summarize(store))
    lines = text.splitlines()
    assert lines[0].split() == ["rank", "(95%)", "activation", "n", "acc", "95%", "CI", "P(best)", "vs", "best"]
    assert all(len(line) <= 100 for line in lines if not line.startswith("warning:"))
    assert "Verdict: Use " in text
    summary = {r["label"]: r for r in read_csv(study / "summary.csv")}
    for line in lines[2:6]:
        label = line[12:].split()[0]  # after the 10-character rank column and its gap
        r = summary[label]
        assert line.startswith(r["rank"]) and f"[{num(r['acc_ci_low']):.4f}, {num(r['acc_ci_high']):.4f}]" in line
        if r["rank_low"] != r["rank_high"]:
            assert f"({r['rank_low']}-{r['rank_high']})" in line
    assert set(summary) == set(LABELS)
    if any(r["separated"] == "no" for r in read_csv(study / "pairs.csv")):
        assert "Open pairs" in text and "seeds needed" in text


def test_report_shows_the_sentence_and_the_heatmap(study):
    page = write_study_report(study).read_text()
    sentence = actlab.load(study).sentence
    verdict = re.search(r'<p class="verdict" id="verdict".*?</p>', page, re.S).group(0)
    assert html.unescape(re.sub(r"<[^>]+>", "", verdict)) == "Verdict: " + sentence
    heat = re.search(r'<svg class="chart heatmap".*?</svg>', page, re.S).group(0)
    assert heat.count('<g class="pair') == 12  # 4 x 3 off-diagonal cells
    separated = sum(r["separated"] == "yes" for r in read_csv(study / "pairs.csv"))
    assert heat.count('<g class="pair separated">') == 2 * separated
    assert page.count("<tr") >= 6 and 'id="pairs-table"' in page


def record(epoch, acc):
    return {"epoch": epoch, "train_loss": 1 - acc, "train_acc": acc, "val_loss": 1 - acc, "val_acc": acc,
            "test_loss": 1 - acc, "test_acc": acc, "seconds": 1.0, "samples": 100}


def test_welch_fallback_and_the_two_seed_interval_stay_honest(tmp_path):
    """Different seeds per activation: no pairing, Welch (scipy). Two seeds 0.104 and 0.266: the plain t interval
    is the issue's [-0.84, 1.21]; the range-respecting one stays inside [0, 1]."""
    accs = {("relu", 0): 0.95, ("relu", 1): 0.96, ("relu", 2): 0.94,
            ("gelu", 3): 0.97, ("gelu", 4): 0.965, ("gelu", 5): 0.955,
            ("sigmoid", 6): 0.104, ("sigmoid", 7): 0.266}
    with Store(tmp_path / "results.sqlite") as store:
        store.ensure_study("s", {"epochs": 1}, "actlab compare", "0")
        store.add_runs([{"activation": a, "seed": s, "config": {}, "epochs": 1} for a, s in accs])
        for run in store.runs():
            store.restart_run(run["run_id"])
            store.record_epoch(run["run_id"], record(1, accs[run["activation"], run["seed"]]))
    assert main(["report", str(tmp_path)]) == 0
    s = actlab.load(tmp_path)
    s.write_tables(tmp_path)
    pairs = {(r["better"], r["worse"]): r for r in read_csv(tmp_path / "pairs.csv")}
    relu, gelu = [0.95, 0.96, 0.94], [0.97, 0.965, 0.955]
    r = pairs[("gelu", "relu")]
    ref = st.ttest_ind(gelu, relu, equal_var=False)
    assert r["design"] == "welch" and r["n_seeds"] == "" and r["p_paired_t"] == r["p_wilcoxon"] == ""
    assert num(r["p_welch"]) == pytest.approx(ref.pvalue) and num(r["df"]) == pytest.approx(ref.df)
    assert num(r["p_mannwhitney"]) == pytest.approx(st.mannwhitneyu(gelu, relu, alternative="two-sided").pvalue)
    ci = ref.confidence_interval(0.95)
    assert (num(r["ci_low_points"]), num(r["ci_high_points"])) == pytest.approx((100 * ci.low, 100 * ci.high))
    sigmoid = {row["label"]: row for row in read_csv(tmp_path / "summary.csv")}["sigmoid"]
    low, high = st.t.interval(0.95, 1, loc=np.mean([0.104, 0.266]), scale=st.sem([0.104, 0.266]))
    assert (round(low, 2), round(high, 2)) == (-0.84, 1.21)  # the interval, still in test_acc_ci_*
    assert num(sigmoid["test_acc_ci_low"]) == pytest.approx(low)
    assert 0 < num(sigmoid["acc_ci_low"]) < 0.104 < 0.266 < num(sigmoid["acc_ci_high"]) < 1
