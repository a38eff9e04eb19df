"""Early stopping: the rule, the asynchronous ladder and rung tracking, and whole sweeps (synchronous successive
halving by default, asynchronous ASHA on request) through the execution loop and the store.

The sweeps here use a deterministic stand-in task so the rule's arithmetic can be checked exactly; the same
loop on real training is tested in test_halving.py."""
import csv
import math

import pytest

from actlab.compare.asha import Asha, Ladder, RungTracker, config_key, history, parse_early_stop
from actlab.compare.executors import EpochEvent, InProcessExecutor, ProcessPoolExecutor
from actlab.compare.scaleout import execute, stopped_runs
from actlab.compare.sweep import build_study
from actlab.store import Store

# Validation accuracy per activation: gelu best, relu second, elu, selu, sigmoid worst.
QUALITY = {"gelu": 0.9, "relu": 0.8, "elu": 0.7, "selu": 0.6, "sigmoid": 0.5}


def quality_task(unit, emit):
    """Deterministic stand-in for training: accuracy set by the activation, rising a little each epoch. It keeps
    the engine's contract: continues after its checkpoint (here: the epoch number), stops at ``unit.until``."""
    planned = unit.configs[0]["epochs"]
    first = [int(unit.resume_of(i) or 0) for i in range(len(unit.run_ids))]
    for epoch in range(1, min(planned, unit.until or planned) + 1):
        for i, (run_id, config) in enumerate(zip(unit.run_ids, unit.configs)):
            if epoch <= first[i]:
                continue
            acc = QUALITY[config["activation"]] + epoch / 100 + config["seed"] / 1000
            record = {"epoch": epoch, "train_loss": 1.0, "train_acc": acc, "val_loss": 1 - acc, "val_acc": acc,
                      "test_loss": 1 - acc, "test_acc": acc, "seconds": 0.1, "samples": 10 * epoch}
            if unit.checkpoints and epoch < planned:
                record["checkpoint"] = str(epoch).encode()
            emit(EpochEvent(run_id, record))


def test_rungs_follow_eta_and_stop_before_the_last_epoch():
    assert Asha().rungs(12) == (1, 3, 9)
    assert Asha().rungs(9) == (1, 3)
    assert Asha().rungs(1) == ()
    assert Asha(eta=2, first_rung=2).rungs(10) == (2, 4, 8)
    with pytest.raises(ValueError, match="eta"):
        Asha(eta=1)
    with pytest.raises(ValueError, match="first rung"):
        Asha(first_rung=0)


def test_ladder_promotes_the_top_third_as_scores_arrive():
    ladder = Ladder(Asha(eta=3))
    # Arrival order matters: each newcomer is judged against the scores already at the rung.
    decisions = [ladder.report(name, 1, score)[0] for name, score in
                 [("a", 0.5), ("b", 0.7), ("c", 0.6), ("d", 0.9), ("e", 0.4), ("f", 0.8), ("g", 0.75)]]
    # a: alone, goes on; b: best of 2; c: 2nd of 3 (keep 1); d: best of 4; e: 5th of 5 (keep 1);
    # f: 2nd of 6 (keep 2); g: 3rd of 7 (keep 2).
    assert decisions == [True, True, False, True, False, True, False]
    go, why = Ladder(Asha(), [("x", 1, 0.9), ("y", 1, 0.8)]).report("z", 1, 0.7)
    assert not go and "best 1 of 3" in why and "cutoff 0.9000" in why


def test_ladder_rungs_are_independent_and_nan_counts_as_worst():
    ladder = Ladder(Asha(eta=2), [("a", 1, 0.9), ("b", 1, 0.1)])
    assert ladder.report("c", 3, 0.2)[0]          # first at rung 3
    assert not ladder.report("d", 1, math.nan)[0]  # diverged: worse than anything
    assert ladder.report("e", 1, 0.95)[0]
    ladder.forget("e")
    assert "e" not in ladder.scores[1]


def test_tracker_waits_for_every_live_seed_and_drops_diverged_ones():
    def ev(run_id, epoch, acc, diverged=False):
        return EpochEvent(run_id, {"epoch": epoch, "val_acc": acc, "diverged": diverged})

    t = RungTracker([1, 2, 3], rungs=[1, 3])
    assert t.feed(ev(1, 1, 0.5)) is None
    assert t.feed(ev(2, 1, 0.7)) is None
    assert t.feed(ev(3, 1, 0.6)) == (1, pytest.approx(0.6), (1, 2, 3))
    assert t.feed(ev(1, 2, 0.5, diverged=True)) is None  # run 1 is out
    assert t.feed(ev(2, 2, 0.7)) is None and t.feed(ev(3, 2, 0.7)) is None
    assert t.feed(ev(2, 3, 0.8)) is None
    assert t.feed(ev(3, 3, 0.9)) == (3, pytest.approx(0.85), (2, 3))


def test_parse_early_stop():
    assert parse_early_stop(None) is None and parse_early_stop("none") is None
    assert parse_early_stop("asha") == Asha(3, 1)
    assert parse_early_stop("asha:eta=2,first=3") == Asha(2, 3)
    assert parse_early_stop("asha:async") == Asha(3, 1, asynchronous=True)
    assert parse_early_stop("asha:eta=2,async") == Asha(2, 1, asynchronous=True)
    assert "synchronous successive halving, eta 3, rungs 1, 3" in Asha().describe([4])
    assert "arrival order" in Asha(asynchronous=True).describe([4])
    with pytest.raises(ValueError, match="unknown method"):
        parse_early_stop("hyperband")
    with pytest.raises(ValueError, match="eta=N"):
        parse_early_stop("asha:eta=two")


def make_store(tmp_path, activations, epochs=4, seeds=2):
    study = build_study(activations=activations, seeds=seeds, epochs=epochs, model="mlp")
    store = Store(tmp_path / "results.sqlite")
    store.ensure_study(study.study_id(), study.config(), "test", "0")
    store.add_runs(study.runs())
    return study, store


@pytest.mark.parametrize("executor", [InProcessExecutor(), ProcessPoolExecutor(2, threads=1)],
                         ids=["in-process", "process-pool"])
def test_synchronous_rungs_stop_the_worst_whatever_the_executor(tmp_path, executor):
    # Four configurations at rung 1, eta 3: only the best (gelu) goes on, on any executor.
    study, store = make_store(tmp_path, ("relu", "gelu", "elu", "sigmoid"), epochs=4)
    with store:
        execute(study, store, executor, early_stop=Asha(eta=3), task=quality_task, quiet=True)
        runs = {r["run_id"]: r for r in store.runs()}
        assert {runs[i]["activation"] for i in stopped_runs(store)} == {"relu", "elu", "sigmoid"}
        assert all(r["status"] == "done" and r["attempts"] == 1 for r in runs.values() if r["activation"] == "gelu")
        assert all(info["epoch"] == 1 for info in stopped_runs(store).values())
        assert max(e["epoch"] for e in store.epochs() if runs[e["run_id"]]["activation"] != "gelu") == 1
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("executor", [InProcessExecutor(), ProcessPoolExecutor(2, threads=1)],
                         ids=["in-process", "process-pool"])
def test_sweep_stops_losers_and_ranks_only_complete_runs(tmp_path, executor):
    # Asynchronous: in sorted arrival order (one worker), relu then gelu go on; elu and sigmoid lose at rung 1.
    study, store = make_store(tmp_path, ("relu", "gelu", "elu", "sigmoid"), epochs=4)
    with store:
        execute(study, store, executor, early_stop=Asha(eta=3, asynchronous=True), task=quality_task, quiet=True)
        stopped = stopped_runs(store)
        runs = {r["run_id"]: r for r in store.runs()}
        stopped_names = {runs[i]["activation"] for i in stopped}
        done_names = {r["activation"] for r in runs.values() if r["status"] == "done"}
        assert "gelu" in done_names and "sigmoid" in stopped_names
        assert stopped_names.isdisjoint(done_names) and stopped_names | done_names == set(QUALITY) - {"selu"}
        for run_id, info in stopped.items():  # stopped after the rung: epochs 2.. never trained
            assert info["epoch"] in (1, 3)
            assert max(e["epoch"] for e in store.epochs() if e["run_id"] == run_id) == info["epoch"]
        if isinstance(executor, InProcessExecutor):  # the arrival order is fixed with one worker
            assert stopped_names == {"elu", "sigmoid"}


@pytest.mark.parametrize("rule", [Asha(), Asha(asynchronous=True)], ids=["sync", "async"])
def test_resume_never_restarts_stopped_runs_and_keeps_the_ladder(tmp_path, rule):
    study, store = make_store(tmp_path, ("relu", "gelu", "elu", "sigmoid"), epochs=4)
    with store:
        execute(study, store, InProcessExecutor(), early_stop=rule, task=quality_task, quiet=True)
        before = store.epochs()
        stopped = stopped_runs(store)
        assert execute(study, store, InProcessExecutor(), early_stop=rule, task=quality_task, quiet=True) == 0
        assert store.epochs() == before and stopped_runs(store) == stopped
        if rule.asynchronous:  # the ladder, rebuilt from the stored epochs, has relu at both rungs
            keys = {(k, e) for k, e, _ in history(store, Asha())}
            relu = config_key(next(r["config"] for r in store.runs() if r["activation"] == "relu"))
            assert (relu, 1) in keys and (relu, 3) in keys


def test_restored_ladder_judges_a_newcomer_against_earlier_sessions(tmp_path):
    study, store = make_store(tmp_path, ("gelu", "relu", "elu"), epochs=2)
    with store:
        execute(study, store, InProcessExecutor(), task=quality_task, quiet=True)  # no early stopping at first
        seen = history(store, Asha())
        assert len(seen) == 3 and {e for _, e, _ in seen} == {1}
        ladder = Ladder(Asha(), seen)
        assert not ladder.report("newcomer", 1, 0.75)[0]  # gelu's 0.91 was already there


def test_compare_cli_with_asha_writes_stopped_csv_and_ranks_the_rest(tmp_path, capsys):
    # Real data (the embedded MNIST subset); a tiny learning rate learns far slower than 3e-3 in one epoch.
    from actlab.cli import main
    from actlab.compare import summarize

    code = main(["compare", "--activations", "relu,gelu,sigmoid", "--seeds", "2", "--epochs", "2", "--model", "mlp",
                 "--width", "32", "--depth", "1", "--train-limit", "300", "--batch-size", "32",
                 "--grid", "lr=0.003|0.00001", "--early-stop", "asha:eta=3", "--workers", "1", "--quiet",
                 "--out", str(tmp_path / "out")])
    assert code == 0
    assert "stopped early:" in capsys.readouterr().out
    with Store(tmp_path / "out" / "results.sqlite", readonly=True) as store:
        summary = summarize(store)
        stopped = stopped_runs(store)
        runs = store.runs()
    assert stopped, "with six configurations and eta=3, some must stop at rung 1"
    ranked = {r["label"] for r in summary.rows}
    with open(tmp_path / "out" / "stopped.csv", newline="") as f:
        stopped_labels = {row["label"] for row in csv.DictReader(f)}
    assert ranked.isdisjoint(stopped_labels) and all(r["n_runs"] == 2 for r in summary.rows)
    assert len(ranked) + len(stopped_labels) == 6
    assert all(r["status"] == "done" for r in runs if r["run_id"] not in stopped)


def diverging_task(unit, emit):
    """quality_task, except that selu's loss turns NaN in epoch 1 (the run ends there, diverged)."""
    if unit.configs[0]["activation"] != "selu":
        return quality_task(unit, emit)
    for run_id in unit.run_ids:
        emit(EpochEvent(run_id, {"epoch": 1, "diverged": True, "train_loss": float("nan"), "val_loss": None,
                                 "val_acc": None, "test_loss": None, "test_acc": None, "seconds": 0.1,
                                 "samples": 10}))


def test_a_diverged_configuration_scores_worst_and_keeps_its_status(tmp_path):
    from actlab.compare.halving import decide_rung, rung_scores

    study, store = make_store(tmp_path, ("gelu", "relu", "elu", "selu"), epochs=3)
    with store:
        execute(study, store, InProcessExecutor(), early_stop=Asha(eta=2), task=diverging_task, quiet=True)
        runs = {r["run_id"]: r for r in store.runs()}
        # Four at rung 1, eta 2: gelu and relu go on; elu stops; selu, diverged, ranks last but stays diverged.
        # Rung 2: gelu and relu only (selu has nothing left to rank): relu stops.
        assert {runs[i]["activation"]: s["epoch"] for i, s in stopped_runs(store).items()} == {"elu": 1, "relu": 2}
        assert len(rung_scores(store, Asha(eta=2), 2)) == 2
        assert {r["status"] for r in runs.values() if r["activation"] == "selu"} == {"diverged"}
        scores = {runs[ids[0]]["activation"]: score for score, ids in rung_scores(store, Asha(eta=2), 1).values()}
        assert math.isnan(scores["selu"]) and scores["gelu"] == pytest.approx(0.9 + 0.01 + 0.0005)
        assert decide_rung(store, Asha(eta=2), 1) == []  # deciding the rung again changes nothing
