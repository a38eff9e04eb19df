"""Kill -9 and resume for `actlab tune` (past Optuna's random start-up trials) and `actlab compare --backend ray`
(issue 10): a real SIGKILL of the whole process group, rerun with the same command until it finishes, and the
study ends with exactly the numbers of an uninterrupted one; no process of a killed group survives.

What resumes where: a tuning trial is a run of the store and trains through the same execution loop, so a trial
cut short continues from its last finished epoch's checkpoint with its stored parameters, like the final phase's
runs and any compare run; a finished trial is never trained again.
"""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from test_kill_anywhere import assert_no_survivor, invoke, results

from actlab.store import Store

# TPE samples at random for its first 10 trials (Optuna's n_startup_trials); 12 reach its model-based proposals.
TUNE = ["tune", "--activations", "relu", "--space", "lr=1e-4..1e-2:log", "--trials", "12", "--seeds", "1",
        "--epochs", "2", "--model", "mlp", "--width", "16", "--depth", "1", "--train-limit", "200", "--workers", "1",
        "--quiet"]
TUNE_KILLS = 4
RAY = ["compare", "--backend", "ray", "--workers", "2", "--model", "mlp", "--width", "16", "--train-limit", "400",
       "--epochs", "3", "--seeds", "2", "--activations", "relu,tanh", "--quiet"]
TRIAL_KEYS = ("activation", "number", "params", "status", "score", "best_epoch")


def search(out):
    """The search as stored: every trial's parameters, status and score, and its epochs' numbers."""
    with Store(out / "results.sqlite", readonly=True) as store:
        trials = [tuple(str(t[k]) for k in TRIAL_KEYS) for t in store.trials()]
        epochs = [tuple(str(v) for k, v in e.items() if k != "seconds") for e in store.trial_epochs()]
    return trials, epochs


def finished_trials(out):
    """(activation, number) -> the stored row of every finished trial (its start and end times included)."""
    if not (out / "results.sqlite").exists():
        return {}
    with Store(out / "results.sqlite", readonly=True) as store:
        return {(t["activation"], t["number"]): t for t in store.trials("done")}


def test_tune_killed_at_random_moments_resumes_to_the_same_search_and_final_runs(tmp_path):
    finished, duration = invoke(TUNE, tmp_path / "reference")
    assert finished
    reference = search(tmp_path / "reference"), results(tmp_path / "reference")
    assert len(reference[0][0]) == 12

    rng = random.Random("kill-anywhere-tune")
    out, killed, kept, studies, fresh = tmp_path / "killed", 0, {}, 1, True
    while killed < TUNE_KILLS:
        finished, took = invoke(TUNE, out, kill_after=rng.uniform(0.02, 1.0) * duration)
        now = finished_trials(out)
        for key, trial in kept.items():  # a finished trial is never trained again, nor changed
            assert now[key] == trial
        kept = now
        killed += not finished
        if finished:  # it ended before its moment came: check it, and aim the remaining kills at a new study
            assert (search(out), results(out)) == reference
            assert studies < 3 * TUNE_KILLS, "the study keeps finishing before its kill moment"
            if fresh:  # the machine got faster since the reference: spread the next moments over this run
                duration = took
            out, kept, studies = tmp_path / f"killed-{studies}", {}, studies + 1
        fresh = finished
    finished, _ = invoke(TUNE, out)
    assert finished
    assert all(finished_trials(out)[key] == trial for key, trial in kept.items())
    assert (search(out), results(out)) == reference
    assert not (out / "checkpoints").exists()


def running_with_epochs(db, trials: bool = False) -> int:
    """How many runs (tuning's search trials with ``trials``) are running with at least one stored epoch."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'running' AND run_id IN "
                                "(SELECT run_id FROM epochs)" + (" AND trial IS NOT NULL" if trials else "")
                                ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return 0


def test_compare_on_ray_killed_mid_study_resumes_from_its_checkpoints_to_the_same_numbers(tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "killed"
    assert invoke(RAY, reference)[0]

    # Ray delivers a run's epochs in bursts: between seeing a run mid-way and the kill landing, that run can
    # finish. Such an attempt cut no run between epochs; try again in a fresh folder (at most 4 times).
    for attempt in range(4):
        out = tmp_path / f"killed-{attempt}"
        child = subprocess.Popen([sys.executable, "-m", "actlab.cli", *RAY, "--out", str(out)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not running_with_epochs(out / "results.sqlite"):  # some run has stored an epoch, not all
                assert child.poll() is None and time.monotonic() < deadline, "the study ended before the kill"
                time.sleep(0.005)
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
        assert_no_survivor(child.pid)  # Ray's own processes (GCS, raylet, workers) included
        with Store(out / "results.sqlite", readonly=True) as store:
            cut = {r["run_id"]: store.stored_epochs(r["run_id"]) for r in store.runs("running")}
        if any(cut.values()):
            break
    assert any(cut.values()) and (out / "checkpoints").is_dir()

    assert invoke(RAY, out)[0]
    assert results(out) == results(reference)
    with Store(out / "results.sqlite", readonly=True) as store:
        env = {r["run_id"]: r["env"] for r in store.runs()}
    for run_id, stored in cut.items():  # continued after its last stored epoch, from its checkpoint
        if stored:
            assert env[run_id].get("resumed_after_epoch") == stored
    assert not (out / "checkpoints").exists()


# Long enough trials (4 epochs) that a kill can land between a trial's epochs.
TRIAL_CUT = ["tune", "--activations", "relu", "--space", "lr=1e-3..1e-2:log", "--sampler", "grid", "--trials", "2",
             "--grid-points", "2", "--seeds", "1", "--epochs", "4", "--model", "mlp", "--width", "16", "--depth", "1",
             "--train-limit", "1000", "--workers", "1", "--quiet"]


def test_a_trial_killed_between_epochs_continues_from_its_checkpoint(tmp_path):
    reference, out = tmp_path / "reference", tmp_path / "killed"
    assert invoke(TRIAL_CUT, reference)[0]

    child = subprocess.Popen([sys.executable, "-m", "actlab.cli", *TRIAL_CUT, "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not running_with_epochs(out / "results.sqlite", trials=True):  # a trial has stored some epochs
            assert child.poll() is None and time.monotonic() < deadline, "the study ended before the kill"
            time.sleep(0.005)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert_no_survivor(child.pid)
    with Store(out / "results.sqlite", readonly=True) as store:
        cut = {r["run_id"]: store.stored_epochs(r["run_id"]) for r in store.runs("running", trials=True)
               if r["trial"] is not None}
    assert any(cut.values()) and (out / "checkpoints").is_dir()

    assert invoke(TRIAL_CUT, out)[0]
    assert (search(out), results(out)) == (search(reference), results(reference))  # the same numbers
    with Store(out / "results.sqlite", readonly=True) as store:
        runs = {r["run_id"]: r for r in store.runs(trials=True)}
    for run_id, stored in cut.items():  # continued after its last stored epoch, not from epoch 1
        if stored:
            assert runs[run_id]["env"].get("resumed_after_epoch") == stored and runs[run_id]["attempts"] == 2
    assert not (out / "checkpoints").exists()
