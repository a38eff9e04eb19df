"""Kill -9 at any moment (issue 10): 20 real SIGKILLs of the whole process group of `actlab compare`, at random
moments spread over a study's duration, across in-process, process-pool and ASHA studies. Each study is rerun
with the same command (and possibly killed again) until it finishes; its per-run, per-epoch numbers must then
equal exactly those of the same study run without interruption, and no process of a killed group may survive.

The moments are drawn from a fixed seed as fractions of the uninterrupted study's wall time, so kills land
everywhere: during start-up, before the store exists, mid-epoch, between an epoch's checkpoint and its commit,
at an ASHA rung, while the outputs and the report are written.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from actlab.store import EPOCH_FIELDS, Store

BASE = ["compare", "--model", "mlp", "--width", "16", "--train-limit", "400", "--epochs", "3", "--seeds", "2",
        "--activations", "relu,tanh", "--quiet"]
STUDIES = {  # name: (extra arguments, kills)
    "in-process": (["--workers", "1"], 7),
    "pool": (["--workers", "2"], 7),
    # Synchronous successive halving (the default): every configuration trains to the rung, then the whole rung
    # is decided, so two workers stop the same configurations as one. A third activation: with eta=3 only the
    # best of the three goes on after rung 1.
    "asha": (["--workers", "2", "--early-stop", "asha", "--activations", "relu,tanh,gelu"], 6),
}
NUMBERS = tuple(k for k in EPOCH_FIELDS if k != "seconds")


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of process group ``pgid``, as 'pid state command' lines, read from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # Fields after the command (which is in parentheses and may hold spaces): state, ppid, pgrp, ...
        state, _ppid, pgrp = stat[stat.rindex(")") + 2:].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            out.append(f"{entry.name} {state} {stat[stat.index('(') + 1:stat.rindex(')')]}")
    return out


def assert_no_survivor(pgid: int, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit  # SIGKILL is delivered asynchronously: give the kernel a moment
    while (left := group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes of the killed group {pgid} survived: {left}"


def invoke(args, out: Path, kill_after=None) -> tuple[bool, float]:
    """Run `actlab compare` in a new session; SIGKILL its whole group after ``kill_after`` seconds unless it
    ended first. Returns (finished by itself with status 0, seconds it ran)."""
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "actlab.cli", *args, "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        child.wait(timeout=kill_after if kill_after is not None else 600)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
        err = child.stderr.read().decode(errors="replace")
        child.stderr.close()
    assert_no_survivor(child.pid)  # the child is its group's leader: pgid == pid
    if child.returncode != -signal.SIGKILL:
        assert child.returncode == 0, f"compare failed (status {child.returncode}):\n{err[-3000:]}"
    return child.returncode == 0, time.monotonic() - start


def results(out: Path) -> dict:
    """Per run: status, its epochs' numbers (all but wall time), and its early-stopping record."""
    with Store(out / "results.sqlite", readonly=True) as store:
        runs = {r["run_id"]: (r["activation"], r["seed"], str(r["grid"])) for r in store.runs()}
        status = {runs[r["run_id"]]: r["status"] for r in store.runs()}
        epochs: dict = {}
        for row in store.epochs():
            epochs.setdefault(runs[row["run_id"]], []).append(
                (row["epoch"], row["diverged"], *(row[k] for k in NUMBERS)))
        stopped = {runs[i]: (s["epoch"], s["score"]) for i, s in store.stopped_runs().items()}
    return {key: (status[key], epochs.get(key, []), stopped.get(key)) for key in runs.values()}


@pytest.mark.parametrize("name", list(STUDIES))
def test_killed_at_random_moments_the_study_ends_with_the_uninterrupted_numbers(tmp_path, name):
    extra, kills = STUDIES[name]
    args = [*BASE, *extra]
    finished, duration = invoke(args, tmp_path / "reference")
    assert finished
    reference = results(tmp_path / "reference")
    assert all(status in ("done", "stopped") for status, _, _ in reference.values())
    if name == "asha":  # the rule must have cut something, or this study tests nothing ASHA-specific
        assert any(status == "stopped" for status, _, _ in reference.values())

    rng = random.Random(f"kill-anywhere-{name}")
    out, killed, studies, fresh = tmp_path / "killed", 0, 1, True
    while killed < kills:
        finished, took = invoke(args, out, kill_after=rng.uniform(0.02, 1.0) * duration)
        killed += not finished
        if finished:  # it ended before its moment came: check it, and aim the remaining kills at a new study
            assert results(out) == reference
            assert studies < 3 * kills, "the study keeps finishing before its kill moment"
            if fresh:  # the machine got faster since the reference: spread the next moments over this run
                duration = took
            out, studies = tmp_path / f"killed-{studies}", studies + 1
        fresh = finished
    finished, _ = invoke(args, out)  # resume to the end, uninterrupted
    assert finished
    assert results(out) == reference
    assert not (out / "checkpoints").exists(), "checkpoints of ended runs were left behind"
    litter = [p.name for p in out.rglob(".*") if p.name != ".lock"]
    assert not litter, f"temporary files of killed writers were left behind: {litter}"


@pytest.mark.parametrize("rule", ["asha", "asha:async"])
def test_an_early_stop_decided_but_not_stored_when_killed_is_decided_again_on_resume(tmp_path, rule):
    # The driver stores a rung's epochs, then decides, then stores the stop: a kill in between leaves the
    # configuration 'running' with its rung epochs stored and no stop. Rebuilt here from a finished study
    # (its store as that kill leaves it), the resume must stop it again, not train it on: the synchronous
    # rule decides the rung again from the store, the asynchronous one replays its ladder.
    import shutil
    import sqlite3

    from actlab.cli import main

    args = [*BASE, "--workers", "1", "--early-stop", rule, "--activations", "relu,tanh,gelu"]
    assert main([*args, "--out", str(tmp_path / "reference")]) == 0
    reference = results(tmp_path / "reference")
    stopped = [key for key, (status, _, _) in reference.items() if status == "stopped"]
    assert stopped
    shutil.copytree(tmp_path / "reference", tmp_path / "cut")
    conn = sqlite3.connect(tmp_path / "cut" / "results.sqlite")
    with conn:
        conn.execute("UPDATE runs SET status = 'running', finished = NULL WHERE status = 'stopped'")
        conn.execute("DELETE FROM stopped_runs")
    conn.close()
    assert main([*args, "--out", str(tmp_path / "cut")]) == 0
    assert results(tmp_path / "cut") == reference
    with Store(tmp_path / "cut" / "results.sqlite", readonly=True) as store:  # stopped, not trained again
        assert all(run["attempts"] == 1 for run in store.runs())


def test_a_file_half_written_by_a_killed_writer_is_removed_by_the_next_writer(tmp_path):
    from actlab.compare.runner import study_folder

    (tmp_path / "summary.csv").write_text("old\n")
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from actlab.store import atomic_write\n"
         "with atomic_write(sys.argv[1]) as tmp:\n"
         "    tmp.write_text('half'); print(tmp, flush=True); time.sleep(600)", str(tmp_path / "summary.csv")],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    temporary = Path(writer.stdout.readline().strip())
    os.killpg(writer.pid, signal.SIGKILL)
    writer.wait(timeout=60)
    writer.stdout.close()
    assert temporary.exists()  # kill -9 skipped atomic_write's clean-up
    with study_folder(tmp_path):
        pass
    assert not temporary.exists() and (tmp_path / "summary.csv").read_text() == "old\n"
