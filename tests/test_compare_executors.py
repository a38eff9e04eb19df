"""Executors and the runner's resume logic, driven by tiny fake training tasks; one test trains tiny real
studies to show that the number of worker processes does not change the numbers."""
import os
from pathlib import Path

import pytest

from actlab.compare.executors import (DataSpec, EpochEvent, InProcessExecutor, ProcessPoolExecutor, UnitDone,
                                      UnitStarted, WorkUnit, make_executor, resolve_workers,
                                      split_runs, usable_cores)
from actlab.compare.runner import execute, plan
from actlab.compare.sweep import build_study
from actlab.store import Store

DATA = DataSpec("mnist-small", None, 0.1, None, 0)


def fake_record(config, epoch):
    """Numbers that depend only on the activation, seed and epoch (like a deterministic trainer)."""
    base = (sum(map(ord, config["activation"])) % 17) / 100 + config["seed"] / 1000
    return {"epoch": epoch, "train_loss": 1 / epoch, "train_acc": 0.5 + base, "val_loss": 1 / epoch + base,
            "val_acc": 0.6 + base, "test_loss": 1.1 / epoch, "test_acc": 0.7 + base + epoch / 100,
            "seconds": 0.5, "samples": 100 * epoch}


def fake_task(unit, emit):
    for epoch in range(1, unit.configs[0]["epochs"] + 1):
        for run_id, config in zip(unit.run_ids, unit.configs):
            emit(EpochEvent(run_id, fake_record(config, epoch), [{"name": "fc", "act_mean": float(epoch)}]))


def failing_task(unit, emit):
    if "gelu" in unit.configs[0]["activation"]:
        raise ValueError("gelu exploded on purpose")
    fake_task(unit, emit)


def dying_task(unit, emit):
    os._exit(3)


class Interrupted(Exception):
    pass


def interrupted_task(unit, emit):
    """Finishes the relu unit, then stops gelu's after its first epoch (like a kill)."""
    if "gelu" in unit.configs[0]["activation"]:
        for run_id, config in zip(unit.run_ids, unit.configs):
            emit(EpochEvent(run_id, fake_record(config, 1)))
        raise Interrupted
    fake_task(unit, emit)


def units(n=3, seeds=2, epochs=2):
    names = ["relu", "gelu", "elu", "selu"][:n]
    return [WorkUnit(i, tuple(10 * i + s for s in range(seeds)),
                     tuple({"activation": a, "seed": s, "epochs": epochs} for s in range(seeds)), DATA)
            for i, a in enumerate(names)]


def collect(executor, task, work):
    events = []
    executor.run(work, task, events.append)
    return events


def unit_events(events, unit):
    return [e for e in events if getattr(e, "run_id", None) in unit.run_ids
            or getattr(e, "unit_id", None) == unit.unit_id]


def test_in_process_delivers_start_epochs_done_per_unit():
    work = units()
    events = collect(InProcessExecutor(), fake_task, work)
    assert len([e for e in events if isinstance(e, EpochEvent)]) == 3 * 2 * 2
    assert events[:6] == unit_events(events, work[0])  # one unit after another
    for unit in work:
        ours = unit_events(events, unit)
        assert ours[0] == UnitStarted(unit.unit_id) and ours[-1] == UnitDone(unit.unit_id) and len(ours) == 6


def test_process_pool_gives_the_same_events():
    work = units()
    local = collect(InProcessExecutor(), fake_task, work)
    pooled = collect(ProcessPoolExecutor(2, threads=1), fake_task, work)
    key = lambda e: (type(e).__name__, getattr(e, "run_id", -1), getattr(e, "unit_id", -1), str(e))
    assert sorted(pooled, key=key) == sorted(local, key=key)
    for unit in work:  # a unit starts first and ends last; each run's epochs keep their order
        ours = unit_events(pooled, unit)
        assert ours[0] == UnitStarted(unit.unit_id) and ours[-1] == UnitDone(unit.unit_id)
        for run_id in unit.run_ids:
            assert [e for e in ours if getattr(e, "run_id", None) == run_id] == \
                [e for e in local if getattr(e, "run_id", None) == run_id]


def pid_task(unit, emit):
    """Reports which process trained each run and its torch thread count; waits (up to a minute) until
    two processes have reached it, so that one fast worker cannot take every run."""
    import time

    import torch

    folder = Path(unit.configs[0]["rendezvous"])
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    for run_id in unit.run_ids:
        emit(EpochEvent(run_id, {"pid": os.getpid(), "threads": torch.get_num_threads()}))


def test_split_runs_gives_one_piece_per_run_and_its_unit():
    pieces, parents = split_runs(units(n=2, seeds=3))
    assert [p.unit_id for p in pieces] == list(range(6)) and parents == [0, 0, 0, 1, 1, 1]
    assert [p.run_ids for p in pieces] == [(0,), (1,), (2,), (10,), (11,), (12,)]
    assert [p.configs[0]["seed"] for p in pieces] == [0, 1, 2, 0, 1, 2]


def test_process_pool_trains_the_seeds_of_one_unit_side_by_side(tmp_path):
    work = [WorkUnit(0, (0, 1, 2, 3), tuple({"seed": s, "rendezvous": str(tmp_path)} for s in range(4)), DATA)]
    events = collect(ProcessPoolExecutor(2, threads=1), pid_task, work)
    records = [e.record for e in events if isinstance(e, EpochEvent)]
    assert len(records) == 4 and {r["threads"] for r in records} == {1}
    assert len({r["pid"] for r in records}) == 2  # one group of 4 seeds keeps both workers busy
    assert events[0] == UnitStarted(0) and events[-1] == UnitDone(0)
    assert sum(isinstance(e, (UnitStarted, UnitDone)) for e in events) == 2


def test_process_pool_raises_the_worker_error():
    with pytest.raises(ValueError, match="gelu exploded on purpose"):
        collect(ProcessPoolExecutor(2, threads=1), failing_task, units())


def test_process_pool_notices_a_dead_worker():
    with pytest.raises(RuntimeError, match="worker process died"):
        collect(ProcessPoolExecutor(1, threads=1), dying_task, units(n=1))


def test_make_executor():
    assert isinstance(make_executor(1), InProcessExecutor)
    assert make_executor(3).workers == 3
    with pytest.raises(ValueError):
        ProcessPoolExecutor(0)


@pytest.fixture
def study_store(tmp_path):
    study = build_study(activations=("relu", "gelu"), seeds=2, epochs=3, model="mlp")
    store = Store(tmp_path / "results.sqlite")
    store.ensure_study(study.study_id(), study.config(), "test", "0")
    store.add_runs(study.runs())
    yield study, store
    store.close()


def test_execute_records_everything(study_store):
    study, store = study_store
    assert execute(study, store, InProcessExecutor(), task=fake_task, quiet=True) == 4
    assert [r["status"] for r in store.runs()] == ["done"] * 4
    assert len(store.epochs()) == 4 * 3
    assert len(store.layer_stats()) == 4 * 3
    assert execute(study, store, InProcessExecutor(), task=fake_task, quiet=True) == 0


def test_interrupted_execute_resumes_without_duplicates_or_reruns(study_store):
    study, store = study_store
    with pytest.raises(Interrupted):
        execute(study, store, InProcessExecutor(), task=interrupted_task, quiet=True)
    runs = {r["activation"]: r for r in store.runs()}
    assert runs["relu"]["status"] == "done" and runs["gelu"]["status"] == "running"
    finished_rows = [e for e in store.epochs() if e["activation"] == "relu"]
    assert len([e for e in store.epochs() if e["activation"] == "gelu"]) == 2  # one partial epoch per seed
    assert [len(u.run_ids) for u in plan(store, False, DATA)] == [2]

    assert execute(study, store, ProcessPoolExecutor(2, threads=1), task=fake_task, quiet=True) == 2
    rows = store.epochs()
    assert len(rows) == len({(r["run_id"], r["epoch"]) for r in rows}) == 12
    assert [e for e in rows if e["activation"] == "relu"] == finished_rows
    attempts = {(r["activation"], r["seed"]): r["attempts"] for r in store.runs()}
    assert attempts == {("relu", 0): 1, ("relu", 1): 1, ("gelu", 0): 2, ("gelu", 1): 2}
    assert all(r["status"] == "done" for r in store.runs())


def stop_at_first_unit(unit, emit):
    raise Interrupted


def test_units_never_reached_stay_pending(study_store):
    study, store = study_store
    with pytest.raises(Interrupted):
        execute(study, store, InProcessExecutor(), task=stop_at_first_unit, quiet=True)
    state = {(r["activation"], r["seed"]): (r["status"], r["attempts"]) for r in store.runs()}
    assert state == {("relu", 0): ("running", 1), ("relu", 1): ("running", 1),
                     ("gelu", 0): ("pending", 0), ("gelu", 1): ("pending", 0)}


class SilentStartExecutor:
    """An executor that sends no UnitStarted (allowed by the protocol)."""

    def run(self, units, task, on_event):
        for unit in units:
            task(unit, on_event)
            on_event(UnitDone(unit.unit_id))


def test_first_epoch_counts_as_start_without_unit_started(study_store):
    study, store = study_store
    with pytest.raises(Interrupted):
        execute(study, store, InProcessExecutor(), task=interrupted_task, quiet=True)
    assert execute(study, store, SilentStartExecutor(), task=fake_task, quiet=True) == 2
    rows = store.epochs()
    assert len(rows) == len({(r["run_id"], r["epoch"]) for r in rows}) == 12
    assert [r["attempts"] for r in store.runs()] == [1, 1, 2, 2]


def test_resolve_workers():
    cores = usable_cores()
    assert resolve_workers("auto", 1) == 1  # a single run trains in this process
    assert resolve_workers("auto", 100) == cores and resolve_workers("auto", 2) == min(cores, 2)
    assert resolve_workers(3, 1) == 3
    for bad in (0, -1, "two", True):
        with pytest.raises(ValueError, match="positive integer or 'auto'"):
            resolve_workers(bad, 4)


TINY = ["compare", "--model", "mlp", "--activations", "relu,gelu", "--seeds", "2", "--epochs", "2",
        "--train-limit", "300", "--quiet"]


def numbers(out):
    """Every training number of a finished study folder (history.csv without its timing columns)."""
    import csv

    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in row.items() if k not in ("seconds", "elapsed_seconds")} for row in rows]


def test_worker_count_does_not_change_the_numbers(tmp_path, monkeypatch):
    """One thread per worker: which worker trains which run, and how many workers there are, cannot matter.
    Two usable cores (as on the reference machine) make 'auto' two workers and any count one thread each."""
    from actlab.cli import main
    from actlab.compare import executors

    monkeypatch.setattr(executors, "usable_cores", lambda: 2)
    for name, flags in (("auto", []), ("auto-again", []), ("three", ["--workers", "3"])):
        assert main([*TINY, "--out", str(tmp_path / name), *flags]) == 0
    reference = numbers(tmp_path / "auto")
    assert len(reference) == 2 * 2 * 2 and all(float(r["val_acc"]) > 0.2 for r in reference)
    assert numbers(tmp_path / "auto-again") == reference
    assert numbers(tmp_path / "three") == reference
