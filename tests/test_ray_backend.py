"""The Ray backend on a private local Ray (2 CPUs, 127.0.0.1, one session shared by every test here)."""
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from actlab.compare.asha import Asha
from actlab.compare.executors import EpochEvent, InProcessExecutor, ProcessPoolExecutor, UnitDone, make_executor
from actlab.compare.ray_backend import RayExecutor, require_ray
from actlab.compare import run_study
from actlab.compare.scaleout import MissingExtra, RunsRestarted, execute, stopped_runs
from actlab.compare.sweep import build_study
from actlab.store import Store

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def record(config, epoch):
    acc = {"gelu": 0.9, "relu": 0.8, "elu": 0.7, "sigmoid": 0.5}[config["activation"]] + epoch / 100
    return {"epoch": epoch, "train_loss": 1.0, "train_acc": acc, "val_loss": 1 - acc, "val_acc": acc,
            "test_loss": 1 - acc, "test_acc": acc, "seconds": 0.1, "samples": 10 * epoch}


def fake_task(unit, emit):
    """Keeps the engine's contract: continues after its checkpoint (the epoch number), stops at ``unit.until``."""
    planned = unit.configs[0]["epochs"]
    for epoch in range(1, min(planned, unit.until or planned) + 1):
        for i, (run_id, config) in enumerate(zip(unit.run_ids, unit.configs)):
            if epoch > int(unit.resume_of(i) or 0):
                values = record(config, epoch)
                if unit.checkpoints and epoch < planned:
                    values["checkpoint"] = str(epoch).encode()
                emit(EpochEvent(run_id, values))


@dataclass(frozen=True)
class DieOnce:
    """Kills its worker process after epoch 1 of the gelu unit, the first time only (a marker file remembers)."""

    marker: str
    always: bool = False

    def __call__(self, unit, emit):
        if unit.configs[0]["activation"] == "gelu" and (self.always or not os.path.exists(self.marker)):
            Path(self.marker).touch()
            for run_id, config in zip(unit.run_ids, unit.configs):
                emit(EpochEvent(run_id, record(config, 1)))
            os._exit(1)
        fake_task(unit, emit)


class Interrupted(Exception):
    pass


@dataclass(frozen=True)
class InterruptGelu:
    """relu trains in full and leaves a marker; gelu waits for it, reports epoch 1 and fails (a fixed order)."""

    marker: str

    def __call__(self, unit, emit):
        if unit.configs[0]["activation"] != "gelu":
            fake_task(unit, emit)
            Path(self.marker).touch()
            return
        for _ in range(3000):
            if os.path.exists(self.marker):
                break
            time.sleep(0.01)
        for run_id, config in zip(unit.run_ids, unit.configs):
            emit(EpochEvent(run_id, record(config, 1)))
        raise Interrupted("stopped on purpose")


class Spy:
    """Wraps an executor and keeps every event it delivers, in order."""

    def __init__(self, inner):
        self.inner, self.events = inner, []

    def run(self, units, task, on_event):
        def handle(event):
            self.events.append(event)
            on_event(event)

        self.inner.run(units, task, handle)


@pytest.fixture(scope="module")
def ray_executor():
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'actlab[ray]'")
    # Tasks defined in this test module travel by value: Ray workers cannot import a test module.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    executor = RayExecutor(num_cpus=2, max_retries=2)
    executor.connect()
    yield executor
    executor.close()
    assert not ray.is_initialized()


def make_store(tmp_path, activations=("relu", "gelu"), epochs=3, seeds=2):
    tmp_path.mkdir(exist_ok=True)
    study = build_study(activations=activations, seeds=seeds, epochs=epochs, model="mlp")
    store = Store(tmp_path / "results.sqlite")
    store.ensure_study(study.study_id(), study.config(), "test", "0")
    store.add_runs(study.runs())
    return study, store


def test_missing_ray_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes 'import ray' raise ImportError
    with pytest.raises(MissingExtra, match=r"pip install 'actlab\[ray\]'"):
        require_ray()
    with pytest.raises(MissingExtra, match="Ray backend"):
        make_executor(2, "ray")


def test_one_executor_factory_checks_its_arguments():
    assert isinstance(make_executor(1, "local"), InProcessExecutor)
    pool = make_executor(3, "local", threads=1)
    assert isinstance(pool, ProcessPoolExecutor) and (pool.workers, pool.threads) == (3, 1)
    ray = make_executor(2, "ray")
    assert isinstance(ray, RayExecutor) and ray.num_cpus == 2 and ray.address is None
    assert make_executor(2, "ray", "auto").num_cpus is None  # a joined cluster brings its own CPUs
    with pytest.raises(ValueError, match="needs --backend ray"):
        make_executor(1, "local", address="auto")
    with pytest.raises(ValueError, match="expected one of local, ray"):
        make_executor(1, "slurm")


def test_ray_sweep_stores_the_same_numbers_as_in_process(ray_executor, tmp_path):
    study, store = make_store(tmp_path)
    with store:
        assert execute(study, store, ray_executor, task=fake_task, quiet=True) == 4
        ours = [(e["activation"], e["seed"], e["epoch"], e["val_acc"]) for e in store.epochs()]
        assert all(r["status"] == "done" and r["attempts"] == 1 for r in store.runs())
    study, local = make_store(tmp_path / "local")
    with local:
        execute(study, local, InProcessExecutor(), task=fake_task, quiet=True)
        assert ours == [(e["activation"], e["seed"], e["epoch"], e["val_acc"]) for e in local.epochs()]


def test_a_training_error_is_raised_not_retried_and_the_study_resumes(ray_executor, tmp_path):
    study, store = make_store(tmp_path)
    with store:
        with pytest.raises(Interrupted, match="stopped on purpose"):
            execute(study, store, ray_executor, task=InterruptGelu(str(tmp_path / "relu-done")), quiet=True)
        status = {(r["activation"], r["seed"]): (r["status"], r["attempts"]) for r in store.runs()}
        assert status["relu", 0] == status["relu", 1] == ("done", 1)
        assert status["gelu", 0] == status["gelu", 1] == ("running", 1)  # not retried
        assert [e["epoch"] for e in store.epochs() if e["activation"] == "gelu"] == [1, 1]  # stored before the error
        relu_rows = [e for e in store.epochs() if e["activation"] == "relu"]
        assert execute(study, store, ray_executor, task=fake_task, quiet=True) == 2
        assert [e for e in store.epochs() if e["activation"] == "relu"] == relu_rows
        assert all(r["status"] == "done" for r in store.runs()) and len(store.epochs()) == 12
        assert {r["attempts"] for r in store.runs() if r["activation"] == "gelu"} == {2}


@pytest.mark.parametrize("rule", [Asha(eta=3), Asha(eta=3, asynchronous=True)], ids=["sync", "async"])
def test_asha_on_ray_stops_the_losers(ray_executor, tmp_path, rule):
    study, store = make_store(tmp_path, ("gelu", "relu", "elu", "sigmoid"), epochs=4, seeds=1)
    with store:
        execute(study, store, ray_executor, early_stop=rule, task=fake_task, quiet=True)
        stopped = stopped_runs(store)
        names = {r["run_id"]: r["activation"] for r in store.runs()}
        assert "gelu" not in {names[i] for i in stopped} and "sigmoid" in {names[i] for i in stopped}
        if not rule.asynchronous:  # the whole rung at once: only the best of four goes on
            assert {names[i] for i in stopped} == {"relu", "elu", "sigmoid"}
        for run_id, info in stopped.items():
            assert max(e["epoch"] for e in store.epochs() if e["run_id"] == run_id) == info["epoch"] < 4


def test_real_training_on_ray_matches_local(ray_executor, tmp_path):
    study = build_study(activations=("relu", "selu"), seeds=1, epochs=1, model="mlp", width=16, depth=1,
                        train_limit=200, batch_size=50)
    on_ray = run_study(study, tmp_path / "ray", executor=ray_executor, quiet=True)
    local = run_study(study, tmp_path / "local", workers=1, quiet=True)
    assert [(r.label, r.test_acc) for r in on_ray.results] == [(r.label, r.test_acc) for r in local.results]


# Last: a dead worker is replaced by a fresh process (seconds to import torch), so nothing waits on it.
def test_a_killed_worker_keeps_its_epoch_and_the_run_is_retried(ray_executor, tmp_path):
    study, store = make_store(tmp_path)
    spy = Spy(ray_executor)
    with store:
        execute(study, store, spy, task=DieOnce(str(tmp_path / "died")), quiet=True)
        runs = {(r["activation"], r["seed"]): r for r in store.runs()}
        assert all(r["status"] == "done" for r in runs.values())
        assert runs["gelu", 0]["attempts"] == runs["gelu", 1]["attempts"] == 2
        assert runs["relu", 0]["attempts"] == 1
        rows = store.epochs()
        assert len(rows) == len({(r["run_id"], r["epoch"]) for r in rows}) == 4 * 3
    gelu_ids = {runs["gelu", s]["run_id"] for s in (0, 1)}
    restart = next(i for i, e in enumerate(spy.events) if isinstance(e, RunsRestarted))
    # The epoch finished before the crash reached the driver before the restart did.
    before = [e for e in spy.events[:restart] if isinstance(e, EpochEvent) and e.run_id in gelu_ids]
    assert {e.run_id for e in before} == gelu_ids and all(e.record["epoch"] == 1 for e in before)
    assert set(spy.events[restart].run_ids) == gelu_ids
    assert sum(isinstance(e, UnitDone) for e in spy.events) == 2


def test_a_unit_that_keeps_dying_fails_after_max_retries(ray_executor, tmp_path):
    study, store = make_store(tmp_path, ("gelu",))
    impatient = RayExecutor(max_retries=0)  # joins the running session
    with store, pytest.raises(RuntimeError, match="died on each of its 1 attempt"):
        execute(study, store, impatient, task=DieOnce(str(tmp_path / "x"), always=True), quiet=True)
