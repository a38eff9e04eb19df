"""actlab tune: the search space, the samplers, and a tiny real tuning study end to end (with resume)."""
import csv
import math
import sys

import pytest

from actlab.cli import main
from actlab.compare.executors import InProcessExecutor
from actlab.compare.sweep import SweepError
from actlab.tune import SEARCH_SEED, make_tune, run_tune, trial_epochs, trials
from actlab.tune.report import sensitivity
from actlab.tune.space import Param, grid_points, parse_space, propose
from actlab.store import Store, StoreError

SPACE = "lr=1e-4..1e-2:log,batch_size=32|64"
# Real MNIST images (the embedded stratified subset), a one-layer MLP, one epoch on 300 images.
SMALL = dict(activations=("relu", "selu"), seeds=2, epochs=1, model="mlp", width=32, depth=1, train_limit=300)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_parse_space_ranges_logs_integers_and_choices():
    lr, bs, width = parse_space("lr=1e-4..1e-2:log, batch_size=64|128,width=16..64")
    assert lr == Param("lr", 1e-4, 1e-2, log=True)
    assert bs == Param("batch_size", choices=(64, 128))
    assert width.integer and width.low == 16 and not width.log
    assert lr.grid_values(3) == pytest.approx((1e-4, 1e-3, 1e-2))
    assert width.grid_values(3) == (16, 40, 64)
    for bad, message in [("lr", "malformed"), ("lr=1e-2..1e-4", "LOW < HIGH"), ("lr=0..1:log", "LOW > 0"),
                         ("lr=1e-4..1e-2:ln", "unknown scale"), ("momentum=1|2", "cannot search"),
                         ("lr=1|2,lr=3|4", "twice"), ("optimizer=a..b", "not numeric"), ("batch_size=1.5..3", "integer")]:
        with pytest.raises(SweepError, match=message):
            parse_space(bad)


def test_make_tune_checks_values_and_the_grid_caps_trials():
    with pytest.raises(SweepError, match="batch-size must be at least 1"):
        make_tune(parse_space("batch_size=0|64"), sampler="grid")
    with pytest.raises(SweepError, match="unknown"):
        make_tune(parse_space(SPACE), sampler="anneal")
    spec = make_tune(parse_space(SPACE), trials=50, sampler="grid", grid_points=3)
    assert spec.n_trials() == 6 and spec.config()["tune"]["trials"] == 6


def test_grid_visits_every_point_once_in_the_same_order_for_every_activation():
    space = parse_space(SPACE)
    relu = [propose("grid", space, [], tune_seed=0, activation="relu", number=n, points=3) for n in range(6)]
    gelu = [propose("grid", space, [], tune_seed=0, activation="gelu", number=n, points=3) for n in range(6)]
    assert relu == gelu
    assert sorted(map(str, relu)) == sorted(map(str, grid_points(space, 3)))


def test_grid_needs_no_optuna_and_tpe_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # 'import optuna' now raises ImportError
    assert propose("grid", parse_space(SPACE), [], tune_seed=0, activation="relu", number=0)
    assert main(["tune", "--space", SPACE, "--sampler", "tpe", "--out", "unused"]) == 2
    assert "pip install 'actlab[tune]'" in capsys.readouterr().err


def test_cli_rejects_bad_input_with_one_line(capsys, tmp_path):
    for argv, message in [(["--space", "lr=1e-2..1e-4"], "LOW < HIGH"),
                          (["--space", "lr=1e-4..1e-2", "--trials", "0"], "--trials must be at least 1"),
                          (["--space", "lr=1e-4..1e-2", "--address", "auto"], "needs --backend ray"),
                          (["--space", "lr=1e-4..1e-2", "--activations", "nosuch"], "nosuch")]:
        assert main(["tune", *argv, "--out", str(tmp_path / "never")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "never").exists()


def test_optuna_proposals_are_reproducible_and_inside_the_space():
    pytest.importorskip("optuna", reason="Optuna is an optional extra: pip install 'actlab[tune]'")
    space = parse_space(SPACE)
    history = [({"lr": 1e-3, "batch_size": 32}, 0.8), ({"lr": 5e-3, "batch_size": 64}, 0.6)]
    for sampler in ("tpe", "random"):
        first = propose(sampler, space, history, tune_seed=1, activation="relu", number=2)
        assert first == propose(sampler, space, history, tune_seed=1, activation="relu", number=2)
        assert 1e-4 <= first["lr"] <= 1e-2 and first["batch_size"] in (32, 64)
    assert propose("random", space, [], tune_seed=1, activation="relu", number=0) != \
        propose("random", space, [], tune_seed=1, activation="gelu", number=0)


def test_sensitivity_measures_spread_and_width_of_the_good_region():
    s = sensitivity([(1e-4, 0.50), (1e-3, 0.90), (1e-2, 0.895), (1e-1, 0.1)])
    assert s["val_acc_spread"] == pytest.approx(0.8)
    assert s["lr_good_decades"] == pytest.approx(1.0)  # 1e-3 and 1e-2 are within 0.01 of the best
    assert math.isnan(sensitivity([])["lr_good_decades"])


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    pytest.importorskip("optuna", reason="Optuna is an optional extra: pip install 'actlab[tune]'")
    out = tmp_path_factory.mktemp("tuned")
    code = main(["tune", "--activations", "relu,selu", "--space", SPACE, "--trials", "3", "--seeds", "2",
                 "--epochs", "1", "--model", "mlp", "--width", "32", "--depth", "1", "--train-limit", "300",
                 "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_tuning_study_end_to_end(tuned, capsys):
    assert {"tuned.csv", "trials.csv", "lr_sensitivity.png", "summary.csv", "history.csv", "results.sqlite"} <= \
        {p.name for p in tuned.iterdir()}
    trial_rows = read_csv(tuned / "trials.csv")
    assert [(r["activation"], r["number"], r["status"]) for r in trial_rows] == \
        [(a, str(n), "done") for n in range(3) for a in ("relu", "selu")]
    rows = read_csv(tuned / "tuned.csv")
    assert sorted(r["activation"] for r in rows) == ["relu", "selu"]
    with Store(tuned / "results.sqlite", readonly=True) as store:
        found = {(t["activation"], t["number"]): t for t in trials(store)}
        runs = store.runs()
        assert {row["epoch"] for row in trial_epochs(store)} == {1}
        assert "test_acc" not in trial_epochs(store)[0]  # the search never records test numbers
    for row in rows:
        best = found[row["activation"], int(row["best_trial"])]
        own = [t["score"] for (a, _), t in found.items() if a == row["activation"]]
        assert best["score"] == max(own) == float(row["search_val_acc"])
        assert 1e-4 <= float(row["lr"]) <= 1e-2 and row["batch_size"] in ("32", "64")
        assert float(row["test_acc_ci_low"]) <= float(row["test_acc_mean"]) <= float(row["test_acc_ci_high"])
        final = [r for r in runs if r["activation"] == row["activation"]]
        # The winner is trained again over seeds 0 and 1, apart from the search seed.
        assert sorted(r["seed"] for r in final) == [0, 1] and all(r["status"] == "done" for r in final)
        assert all(r["grid"] == best["params"] for r in final)
    assert all(t["config"]["seed"] == SEARCH_SEED for t in found.values())
    summary = read_csv(tuned / "summary.csv")
    assert {r["activation"] for r in summary} == {"relu", "selu"} and all(r["n_runs"] == "2" for r in summary)


class StopAfter:
    """Delivers ``n`` epoch events, then interrupts like Ctrl-C."""

    def __init__(self, n):
        self.n, self.inner = n, InProcessExecutor()

    def run(self, units, task, on_event):
        def handle(event):
            on_event(event)
            self.n -= type(event).__name__ == "EpochEvent"
            if self.n == 0:
                raise KeyboardInterrupt

        self.inner.run(units, task, handle)


def test_interrupted_search_resumes_without_rerunning_finished_trials(tuned, tmp_path):
    spec = make_tune(parse_space(SPACE), trials=3, **SMALL)
    with pytest.raises(KeyboardInterrupt):
        run_tune(spec, tmp_path, executor=StopAfter(3), quiet=True)
    with Store(tmp_path / "results.sqlite", readonly=True) as store:
        before = {(t["activation"], t["number"]): t for t in trials(store)}
        trained = {r["run_id"]: r for r in store.runs(trials=True)}
    # The interrupt came right after relu's trial 1 stored its (only) epoch, before the round was scored.
    assert [k for k, t in before.items() if t["status"] == "done"] == [("relu", 0), ("selu", 0)]
    assert trained[before["relu", 1]["run_id"]]["status"] == "done"
    assert before["selu", 1]["status"] == "running"  # its parameters were stored before it trained

    run_tune(spec, tmp_path, quiet=True)
    with Store(tmp_path / "results.sqlite", readonly=True) as store:
        after = {(t["activation"], t["number"]): t for t in trials(store)}
        retrained = {r["run_id"]: r for r in store.runs(trials=True)}
    for key, trial in before.items():
        assert after[key]["params"] == trial["params"]
        if trial["status"] == "done":
            assert after[key]["finished"] == trial["finished"]  # not rerun
    relu_1 = before["relu", 1]["run_id"]  # scored on resume, not trained again
    assert retrained[relu_1]["attempts"] == 1 and retrained[relu_1]["finished"] == trained[relu_1]["finished"]
    # Interrupted and resumed, the study proposes and scores exactly what the uninterrupted one did.
    assert read_csv(tmp_path / "trials.csv") == read_csv(tuned / "trials.csv")
    with pytest.raises(StoreError, match="another configuration"):
        run_tune(make_tune(parse_space(SPACE), trials=4, **SMALL), tmp_path, quiet=True)
