"""The SQLite results store: schema, per-epoch transactions, restart, config checks, corrupt files."""
import math
import sqlite3

import pytest

from actlab.store import Store, StoreError

CONFIG = {"epochs": 2, "model": "mlp", "activations": ["relu", "gelu"], "seeds": 1}


def record(epoch, acc=0.5):
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc, "val_loss": 1.1, "val_acc": acc,
            "test_loss": 1.2, "test_acc": acc, "seconds": 0.25, "samples": 100 * epoch}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "results.sqlite")
    s.ensure_study("abc", CONFIG, "actlab compare --epochs 2", "0.1.0")
    s.add_runs([{"activation": a, "seed": 0, "config": {"activation": a}, "epochs": 2} for a in ("relu", "gelu")])
    yield s
    s.close()


def test_epochs_are_stored_and_last_epoch_marks_done(store):
    relu, gelu = store.runs()
    assert (relu["status"], gelu["status"]) == ("pending", "pending")
    store.restart_run(relu["run_id"])
    assert store.record_epoch(relu["run_id"], record(1), [{"name": "fc1", "grad_norm_w": 0.5, "note": "x"}]) is False
    assert store.runs()[0]["status"] == "running"
    assert store.record_epoch(relu["run_id"], record(2)) is True
    assert store.runs(status="done")[0]["activation"] == "relu"
    rows = store.epochs()
    assert [(r["activation"], r["epoch"], r["samples"]) for r in rows] == [("relu", 1, 100), ("relu", 2, 200)]
    assert store.layer_stats() == [{"run_id": relu["run_id"], "epoch": 1, "layer": "fc1",
                                    "metric": "grad_norm_w", "value": 0.5}]


def test_duplicate_epoch_is_rejected_and_leaves_nothing_behind(store):
    run_id = store.runs()[0]["run_id"]
    store.restart_run(run_id)
    store.record_epoch(run_id, record(1))
    with pytest.raises(sqlite3.IntegrityError):
        store.record_epoch(run_id, record(1), [{"name": "fc1", "grad_norm_w": 1.0}])
    assert len(store.epochs()) == 1 and store.layer_stats() == []


def test_restart_drops_partial_epochs_and_counts_attempts(store):
    run_id = store.runs()[1]["run_id"]
    store.restart_run(run_id)
    store.record_epoch(run_id, record(1), [{"name": "fc1", "act_mean": 0.1}])
    store.restart_run(run_id)
    assert store.epochs() == [] and store.layer_stats() == []
    assert store.runs()[1]["attempts"] == 2


def test_finished_run_cannot_be_restarted(store):
    run_id = store.runs()[0]["run_id"]
    store.restart_run(run_id)
    store.record_epoch(run_id, record(1))
    store.record_epoch(run_id, record(2))
    with pytest.raises(StoreError, match="already finished"):
        store.restart_run(run_id)
    assert len(store.epochs()) == 2


def test_runs_are_registered_once(store):
    store.add_runs([{"activation": "relu", "seed": 0, "config": {"activation": "relu"}, "epochs": 2}])
    assert len(store.runs()) == 2


def test_nan_loss_reads_back_as_null(store):
    run_id = store.runs()[0]["run_id"]
    store.restart_run(run_id)
    store.record_epoch(run_id, {**record(1), "train_loss": math.nan})
    assert store.epochs()[0]["train_loss"] is None


def test_changed_configuration_is_an_error(tmp_path, store):
    store.ensure_study("abc", CONFIG, "actlab compare --epochs 2", "0.1.0")  # same: fine
    with pytest.raises(StoreError) as err:
        store.ensure_study("def", {**CONFIG, "epochs": 3}, "actlab compare --epochs 3", "0.1.0")
    assert "epochs: 2 -> 3" in str(err.value) and "actlab compare --epochs 2" in str(err.value)


def test_reopen_and_readonly(tmp_path, store):
    run_id = store.runs()[0]["run_id"]
    store.restart_run(run_id)
    store.record_epoch(run_id, record(1))
    reader = Store(tmp_path / "results.sqlite", readonly=True)
    assert reader.study()["config"] == CONFIG
    assert len(reader.epochs()) == 1
    with pytest.raises(sqlite3.OperationalError):
        reader.conn.execute("DELETE FROM epochs")
    reader.close()


def test_not_a_database(tmp_path):
    bad = tmp_path / "results.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable actlab results store .not an SQLite database"):
        Store(bad)


def test_foreign_database(tmp_path):
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="application id 0x0"):
        Store(path, readonly=True)


def test_missing_file_readonly(tmp_path):
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "nope.sqlite", readonly=True)


def test_diverged_run_ends_diverged_early(store):
    run_id = store.runs()[0]["run_id"]
    store.restart_run(run_id)
    assert store.record_epoch(run_id, {**record(1), "train_loss": math.inf, "diverged": True}) is True
    assert store.runs()[0]["status"] == "diverged"
    with pytest.raises(StoreError, match="already finished"):
        store.restart_run(run_id)
    row = store.epochs()[0]
    assert row["diverged"] == 1 and row["train_loss"] == math.inf
