"""Kill -9, rerun, and the study continues from each run's last stored epoch, to the numbers of an
uninterrupted study (bit for bit on CPU), in-process and with worker processes (issue 10)."""
import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from actlab.cli import main

ARGS = ["compare", "--model", "mlp", "--width", "16", "--activations", "relu,gelu", "--seeds", "2",
        "--epochs", "3", "--train-limit", "200", "--quiet"]
RUNS, EPOCHS = 4, 3
NUMBERS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "samples")


def numbers(folder):
    with open(folder / "history.csv", newline="") as f:
        return [tuple(r[k] for k in ("activation", "seed", "epoch", *NUMBERS)) for r in csv.DictReader(f)]


def count(db, query):
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return conn.execute(query).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_minus_nine_resumes_from_the_last_epoch_to_the_same_numbers(tmp_path, workers):
    reference, out = tmp_path / "reference", tmp_path / "interrupted"
    assert main([*ARGS, "--workers", workers, "--out", str(reference)]) == 0

    db = out / "results.sqlite"
    child = subprocess.Popen([sys.executable, "-m", "actlab.cli", *ARGS, "--workers", workers, "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        # Kill once some run has stored an epoch but not all of its epochs (and a checkpoint holds its state).
        while count(db, "SELECT COUNT(*) FROM runs WHERE status = 'running' AND run_id IN "
                        "(SELECT run_id FROM epochs)") == 0:
            assert child.poll() is None and time.monotonic() < deadline, "the study ended before the kill"
            time.sleep(0.005)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    conn = sqlite3.connect(db)
    kept = dict(conn.execute("SELECT run_id, COUNT(*) FROM epochs JOIN runs USING (run_id) "
                             "WHERE status = 'running' GROUP BY run_id").fetchall())
    conn.close()
    assert kept and (out / "checkpoints").is_dir()

    assert main([*ARGS, "--workers", workers, "--out", str(out)]) == 0
    assert numbers(out) == numbers(reference)
    conn = sqlite3.connect(db)
    resumed = {run_id: env for run_id, env in conn.execute("SELECT run_id, env_json FROM runs")}
    assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == RUNS * EPOCHS
    conn.close()
    # Every run cut short continued after the last epoch it had stored, with its checkpoint.
    for run_id, stored in kept.items():
        if stored < EPOCHS:
            assert f'"resumed_after_epoch":{stored}' in resumed[run_id]
    assert not (out / "checkpoints").exists()  # removed once every run ended
