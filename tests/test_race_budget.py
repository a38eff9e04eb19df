"""Racing under a time budget kept inside a round (epoch by epoch), and `--until-decided best`: real races on a
small MNIST slice, timed with the real clock, resumed without the budget and compared with an uninterrupted race."""
import json
import sqlite3
import subprocess
import sys
import time

import pytest

from actlab.cli import main
from actlab.compare import build_study
from actlab.compare.race import run_race
from studies import at_selected_epoch

TWIN = "leaky_relu:negative_slope=0"  # the same function as relu under another name
# Three activations x 4 seeds x 2 epochs: a first round of 12 runs, 24 epochs.
STUDY = dict(model="mlp", activations=("relu", TWIN, "sigmoid"), seeds=4, epochs=2, train_limit=1000, width=32)
MAX_SEEDS = 5


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "actlab.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def timed_race(out, **kw):
    """run_race on 2 worker processes (one thread each), and its wall time by the real clock."""
    start = time.monotonic()
    _, outcome = run_race(build_study(**STUDY), out, max_seeds=MAX_SEEDS, workers=2, quiet=True, **kw)
    return outcome, time.monotonic() - start


def stored(out):
    """{(activation, seed): (status, stored epochs)} and every stored epoch's seconds, read with plain SQL."""
    conn = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    runs = {(a, s): (st, n) for a, s, st, n in conn.execute(
        "SELECT activation, seed, status, (SELECT COUNT(*) FROM epochs e WHERE e.run_id = r.run_id) FROM runs r")}
    seconds = [s for (s,) in conn.execute("SELECT seconds FROM epochs")]
    conn.close()
    return runs, seconds


def race_json(out):
    return json.loads((out / "race.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted race, its wall time, and the wall time of an invocation with nothing left to train
    (the fixed cost of an invocation: checking the data, replaying the looks, writing the outputs)."""
    out = tmp_path_factory.mktemp("reference") / "study"
    _, whole = timed_race(out)
    _, idle = timed_race(out)
    return out, whole, idle


def test_a_budget_smaller_than_a_round_stops_inside_it_says_what_look_1_needs_and_resumes_exactly(reference,
                                                                                                  tmp_path):
    ref, whole, idle = reference
    out = tmp_path / "study"
    runs, epochs, workers = 3 * 4, 2, 2
    probe = 2 * 4  # one activation per worker, its 4 seeds

    # 1. A fresh study has no stored epoch time: a probe step starts (epoch 1 of one activation per worker),
    # then the budget stops the round.
    outcome, wall = timed_race(out, budget=0.5)
    state, seconds = stored(out)
    assert outcome.reason == "budget" and outcome.state.looks == []
    assert sorted(state.values()) == [("running", 1)] * probe  # the probe's runs paused at epoch 1 of 2
    assert {label for label, _ in state} == {"relu", TWIN}  # sigmoid's runs were never started
    # At this scale an invocation's fixed costs (starting the workers, checking the data, writing the outputs)
    # dwarf an epoch, so the clock can only bound it loosely: the budget, plus one epoch-step at the stored
    # seconds and the whole uninterrupted race (which trained every epoch of every round), each counted twice.
    step = runs * max(seconds) / workers
    assert wall < 0.5 + 2 * (step + whole), (wall, step, whole)
    text = outcome.text
    assert "stopped by --budget" in text and "still open after the budget" in text
    left = probe * (epochs - 1) + (runs - probe) * epochs
    assert f"no look yet; look 1 needs {runs} runs" in text and f"{left} epochs still to train" in text
    assert "no stored time to estimate from" in text and "rerun the same command (with a larger --budget)" in text

    # 2. Now the stored seconds say the next epoch-step (sigmoid's 4 runs to epoch 1) takes more than this
    # budget: nothing is started.
    budget = (runs - probe) * sum(seconds) / len(seconds) / workers / 2
    outcome, wall = timed_race(out, budget=budget)
    now = stored(out)[0]  # not one more epoch (sigmoid's runs are registered now, untrained)
    assert {k: v for k, v in now.items() if k in state} == state
    assert {k: v for k, v in now.items() if k not in state} == {("sigmoid", s): ("pending", 0) for s in range(4)}
    assert outcome.reason == "budget" and outcome.epochs_trained == 0 and outcome.runs_trained == 0
    assert f"the next step, {runs - probe} runs to epoch 1, needs about" in outcome.text
    assert f"look 1 needs {runs} runs" in outcome.text and "no stored time" not in outcome.text
    assert wall < budget + 2 * idle, (wall, budget, idle)
    assert race_json(out)["stopped"] == "budget" and race_json(out)["looks"] == []

    # 3. The same race without a budget continues from the paused runs and ends exactly as the uninterrupted one.
    outcome, _ = timed_race(out)
    assert outcome.reason == race_json(ref)["stopped"]
    assert at_selected_epoch(out) == at_selected_epoch(ref)
    for key in ("looks", "seeds_used", "stopped", "goal"):
        assert race_json(out)[key] == race_json(ref)[key], key


def test_racing_for_the_best_stops_sampling_a_loser_once_decided(tmp_path):
    out = tmp_path / "study"
    done = cli("compare", "--model", "mlp", "--activations", f"relu,{TWIN},sigmoid", "--epochs", "2",
               "--train-limit", "1000", "--width", "32", "--seeds", "4", "--until-decided", "best",
               "--max-seeds", str(MAX_SEEDS), "--workers", "2", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    race = race_json(out)
    assert race["goal"] == "best" and "racing for the best:" in done.stdout
    # sigmoid (on its plateau after 2 short epochs) is worse than relu and its twin at look 1.
    assert {d["worse"] for d in race["looks"][0]["decided"]} == {"sigmoid"}
    conn = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    seeds = {}
    for a, s in conn.execute("SELECT activation, seed FROM runs WHERE status = 'done'"):
        seeds.setdefault(a, set()).add(s)
    conn.close()
    # Every loser got exactly the seeds of the look that first decided it worse than another, never one more.
    for loser in {d["worse"] for look in race["looks"] for d in look["decided"]}:
        first = next(look for look in race["looks"] if any(d["worse"] == loser for d in look["decided"]))
        assert seeds[loser] == set(range(first["seeds"])) and race["seeds_used"][loser] == first["seeds"]
        assert all(loser not in look["active"] for look in race["looks"] if look["look"] >= first["look"])
    assert seeds["sigmoid"] == {0, 1, 2, 3}


def test_racing_for_the_best_of_two_names_the_best(tmp_path):
    study = build_study(model="mlp", activations=("relu", "sigmoid"), seeds=4, epochs=2, train_limit=1000, width=32)
    _, outcome = run_race(study, tmp_path / "study", max_seeds=10, workers=2, quiet=True, goal="best")
    assert outcome.reason == "decided" and len(outcome.state.looks) == 1
    assert "racing for the best: decided: relu is the best" in outcome.text
    assert "sigmoid is worse than relu" in outcome.text
    race = race_json(tmp_path / "study")
    assert race["goal"] == "best" and race["stopped"] == "decided" and race["seeds_used"] == {"relu": 4, "sigmoid": 4}


@pytest.mark.parametrize("value", ["bogus", "Best"])
def test_a_bad_goal_is_one_line_naming_both_choices(value, tmp_path, capsys):
    assert main(["compare", "--until-decided", value, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--until-decided {value!r}" in err
    assert "'ranking'" in err and "'best'" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("flags, message", [
    (["--until-decided", "--spending", "linear"], "--spending 'linear' is not a spending function; give pocock"),
    (["--until-decided", "--futility", "1"], "--futility '1' is not a chance in [0, 1)"),
    (["--until-decided", "best", "--futility", "often"], "--futility 'often' is not a chance in [0, 1)"),
    (["--futility", "0"], "--futility apply to racing; add --until-decided"),
    (["--spending", "obf", "--budget", "1m"], "--budget and --spending apply to racing"),
])
def test_bad_racing_rule_flags_are_one_line(flags, message, tmp_path, capsys):
    assert main(["compare", *flags, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_run_race_refuses_a_bad_budget_or_goal_before_writing(tmp_path):
    with pytest.raises(ValueError, match="budget must be a positive number"):
        run_race(build_study(**STUDY), tmp_path / "x", budget=-1.0)
    with pytest.raises(ValueError, match="goal must be 'ranking' or 'best'"):
        run_race(build_study(**STUDY), tmp_path / "x", goal="all")
    assert not (tmp_path / "x").exists()


def test_a_budgeted_race_that_finishes_counts_one_attempt_per_run(tmp_path):
    # Epoch-steps are separate calls of the executor; a run this invocation paused at epoch 1 continues at
    # epoch 2 from its checkpoint, which is not a new attempt (the store's attempts column stays 1).
    out = tmp_path / "study"
    outcome, _ = timed_race(out, budget=3600.0)
    assert outcome.reason in ("decided", "max_seeds", "futile")
    conn = sqlite3.connect(f"file:{out / 'results.sqlite'}?mode=ro", uri=True)
    attempts = {(a, s): n for a, s, n in conn.execute("SELECT activation, seed, attempts FROM runs")}
    conn.close()
    assert attempts and set(attempts.values()) == {1}, attempts
