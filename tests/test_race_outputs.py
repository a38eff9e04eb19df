"""A raced study's outputs tell the race's verdict (actlab.load, report.html, the printout), --tolerance decides
practical equivalence on real training, and the race honours the study's metric direction."""
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as st

import actlab
from actlab.cli import main
from actlab.compare.race import race_state, write_race_json
from actlab.results.metric import metric_of
from actlab.results.race_view import read_race
from studies import at_selected_epoch

TWIN = "leaky_relu:negative_slope=0"  # the same function as relu under another name: identical runs
# test_race.py's small race (seeds 4, at most 5: two planned looks), with a 0.5-point indifference zone.
RACE = ["compare", "--model", "mlp", "--activations", f"relu,{TWIN},sigmoid", "--epochs", "2",
        "--train-limit", "1000", "--width", "32", "--seeds", "4", "--until-decided", "--max-seeds", "5",
        "--tolerance", "0.5", "--workers", "2"]


def values_by_sql(out):
    """{activation: {seed: test accuracy at the lowest-validation-loss epoch}} read with plain SQL."""
    out_values = {}
    for activation, seed, status, acc in at_selected_epoch(out):
        if status == "done":
            out_values.setdefault(activation, {})[seed] = acc
    return out_values


@pytest.fixture(scope="module")
def raced(tmp_path_factory):
    out = tmp_path_factory.mktemp("raced") / "study"
    done = subprocess.run([sys.executable, "-m", "actlab.cli", *RACE, "--out", str(out)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_tolerance_decides_relu_and_its_twin_equivalent_and_the_race_stops_at_its_first_look(raced):
    out, _ = raced
    values = values_by_sql(out)
    assert {a: set(v) for a, v in values.items()} == {a: {0, 1, 2, 3} for a in ("relu", TWIN, "sigmoid")}
    assert values["relu"] == values[TWIN]  # one function, two names: the same numbers seed by seed
    # Independent check of look 1 of 2 (Pocock-type spending, Lan & DeMets 1983; 3 pairs, Bonferroni).
    level = 0.05 * math.log(1 + (math.e - 1) / 2) / 3
    for a in ("relu", TWIN):
        p = st.ttest_rel([values[a][s] for s in range(4)], [values["sigmoid"][s] for s in range(4)]).pvalue
        assert p < level
    race = json.loads((out / "race.json").read_text())
    assert race["stopped"] == "decided" and len(race["looks"]) == 1 and race["tolerance"] == pytest.approx(0.005)
    look = race["looks"][0]
    assert {(d["better"], d["worse"]) for d in look["decided"]} == {("relu", "sigmoid"), (TWIN, "sigmoid")}
    assert [{e["a"], e["b"]} for e in look["equivalent"]] == [{"relu", TWIN}]
    assert look["equivalent"][0]["ci_low"] == look["equivalent"][0]["ci_high"] == 0.0
    assert look["open"] == [] and look["active"] == []


def test_load_report_and_printout_lead_with_the_race_and_label_the_once_tested_verdict_a_description(raced):
    out, printed = raced
    study = actlab.load(out)
    sentence = study.sentence
    assert sentence.startswith("Decided by the race (family-wise alpha 0.05 over all pairs and looks; "
                               "tolerance 0.5 points): Use relu or leaky_relu:negative_slope=0: the race decided no "
                               "activation better than either of them.")
    assert "sigmoid is worse than leaky_relu:negative_slope=0, relu." in sentence
    assert f"relu and {TWIN} are within 0.5 points of each other." in sentence
    assert "decided: every pair is settled" in sentence
    described = sentence.index("Described, not decided")
    assert sentence.index("Decided by the race") < described < sentence.index("Use relu or", described)
    assert study.verdict.sentence == sentence
    report = (out / "report.html").read_text()
    verdict = report[report.index('id="verdict"'):report.index('id="ranking"')]
    assert "Decided by the race" in verdict and "Described, not decided" in verdict
    assert "within 0.5 points of each other" in verdict
    assert printed.index("Verdict of the race") < printed.index("racing: decided")
    assert "Decided by the race" in printed  # the ranking's verdict line, led by the race as well


def test_a_damaged_race_json_is_named_and_the_study_still_loads(raced, tmp_path):
    out, _ = raced
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "race.json").write_text("{not json")
    study = actlab.load(copy)
    assert study.sentence.startswith("This study was raced, but its race.json could not be read")
    assert "Described, not decided" in study.sentence and len(study.ranking) == 3
    (copy / "race.json").unlink()
    assert read_race(copy) is None and not actlab.load(copy).sentence.startswith("Decided")


@pytest.mark.parametrize("flags, message", [
    (["--tolerance", "0.3"], "add --until-decided"),
    (["--until-decided", "--tolerance", "-1"], "--tolerance '-1' is not a number >= 0"),
    (["--until-decided", "--tolerance", "abc"], "--tolerance 'abc' is not a number >= 0"),
    (["--until-decided", "--tolerance", "nan"], "--tolerance 'nan' is not a number >= 0"),
])
def test_cli_rejects_bad_tolerance_in_one_line(flags, message, tmp_path, capsys):
    assert main(["compare", *flags, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_race_on_bits_per_character_ranks_lower_as_better_and_does_not_clip_to_accuracy_range(tmp_path):
    metric = metric_of({"metric": "bits_per_char", "direction": "min"})
    rng = np.random.default_rng(5)
    shared = rng.normal(0, 0.05, 6)
    means = {"small": 2.0, "big": 5.0, "big_twin": 5.0}
    values = {k: {s: m + shared[s] + rng.normal(0, 0.02) for s in range(6)} for k, m in means.items()}
    values["big_twin"] = dict(values["big"])
    ended = {(k, s) for k in means for s in range(6)}
    state = race_state(values, ended, list(means), 4, 3, metric=metric, tolerance=0.1)
    look = state.looks[0]
    assert set(look.decided) == {("small", "big"), ("small", "big_twin")}  # lower bits per character is better
    assert {frozenset(k) for k in look.equivalent} == {frozenset(("big", "big_twin"))}
    r = look.decided[("small", "big")]
    d = [values["small"][s] - values["big"][s] for s in range(4)]  # oriented better (lower) minus worse
    level = look.alpha_look / 3
    half = st.t.ppf(1 - level / 2, 3) * np.std(d, ddof=1) / 2
    assert r.diff == pytest.approx(np.mean(d)) and r.ci_low == pytest.approx(np.mean(d) - half)
    assert r.ci_low < -1  # an accuracy-range clip at [-1, 1] would have cut this interval
    assert "bits per character" in look.statement and "points" not in look.statement
    write_race_json(tmp_path / "race.json", state, "decided", first=4, max_seeds=6, alpha=0.05, spending="pocock",
                    tolerance=0.1, metric=metric)
    view = read_race(tmp_path)
    assert (metric.scale, metric.unit) == (1.0, "bits per character") and view.tolerance_text == "0.1 bits per character"
    assert view.decided == [("small", "big"), ("small", "big_twin")]
    assert view.statement.startswith("Decided by the race (family-wise alpha 0.05 over all pairs and looks; "
                                     "tolerance 0.1 bits per character): Use small: the race decided it better "
                                     "than every other activation. big is worse than small.")
