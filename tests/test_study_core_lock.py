"""One writer per study, tested with real processes: a second writer is refused, a killed one's lock is taken over."""
import json
import os
import signal
import subprocess
import sys
import time

from actlab.cli import main
from actlab.store import Store

# Long enough (a few hundred short epochs) that the first process is still training when the second starts.
STUDY = ["compare", "--model", "mlp", "--width", "8", "--activations", "relu", "--seeds", "1", "--epochs", "150",
         "--train-limit", "100", "--workers", "1", "--quiet"]


def wait_for_lock_holder(folder, pid, timeout=120):
    lock = folder / ".lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"process {pid} never took the lock of {folder}")


def test_second_writer_is_refused_and_a_killed_writers_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "study"
    first = subprocess.Popen([sys.executable, "-m", "actlab.cli", *STUDY, "--out", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_lock_holder(out, first.pid)
        started = time.monotonic()
        assert main([*STUDY, "--out", str(out)]) == 2
        assert time.monotonic() - started < 30  # refused at once, not after waiting or training
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"pid {first.pid}" in err[0] and "in use by another actlab process" in err[0]
        assert first.poll() is None  # the first writer was not disturbed
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    # The kernel released the killed process's lock: the study resumes and finishes.
    assert main([*STUDY, "--out", str(out)]) == 0
    with Store(out / "results.sqlite", readonly=True) as store:
        (run,) = store.runs()
        assert run["status"] == "done" and len(store.epochs()) == 150
        assert [i["pid"] for i in store.invocations()] == [first.pid, os.getpid()]


def test_tune_on_a_study_held_by_another_process_is_refused(tmp_path, capsys):
    out = tmp_path / "study"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom actlab.store import StudyLock\n"
         f"lock = StudyLock({str(out)!r}, 'actlab compare (holder)').acquire()\nprint('held', flush=True)\n"
         "time.sleep(120)"], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["tune", "--space", "lr=0.001|0.01", "--sampler", "grid", "--trials", "1", "--activations",
                     "relu", "--seeds", "1", "--epochs", "1", "--model", "mlp", "--train-limit", "300", "--quiet",
                     "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid}" in err and "actlab compare (holder)" in err
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing else written
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
