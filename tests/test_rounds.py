"""Rounds in the one execution loop: ``execute(..., until=r)`` trains every unfinished run no further than epoch r;
a run paused there stays 'running' with the checkpoint of epoch r, and the next call continues it. Trained in
rounds, a study ends with exactly the numbers of one trained in one go (real training on the embedded MNIST
subset), in-process and on the process pool."""
import pytest

from actlab.compare.executors import InProcessExecutor, ProcessPoolExecutor
from actlab.compare.runner import execute
from actlab.compare.sweep import build_study
from actlab.store import Checkpoints
from studies import new_store, numbers





@pytest.mark.parametrize("executor", [InProcessExecutor(), ProcessPoolExecutor(2, threads=1)],
                         ids=["in-process", "process-pool"])
def test_a_study_in_rounds_ends_with_the_numbers_of_one_in_one_go(tmp_path, executor):
    study = build_study(activations=("relu", "tanh"), seeds=2, epochs=3, model="mlp", width=16, depth=1,
                        train_limit=300)
    with new_store(tmp_path / "whole", study) as whole:
        execute(study, whole, executor, quiet=True)
        reference = numbers(whole)

    with new_store(tmp_path / "rounds", study) as store:
        assert execute(study, store, executor, quiet=True, until=1) == 4
        runs = store.runs()
        assert all(r["status"] == "running" and store.stored_epochs(r["run_id"]) == 1 for r in runs)
        checkpoints = Checkpoints(tmp_path / "rounds")
        assert all(checkpoints.read(r["run_id"], 1) is not None for r in runs)  # kept for the next round
        assert execute(study, store, executor, quiet=True, until=1) == 0  # nothing left to do up to epoch 1
        execute(study, store, executor, quiet=True, until=2)
        assert all(store.stored_epochs(r["run_id"]) == 2 for r in store.runs())
        execute(study, store, executor, quiet=True)
        assert all(r["status"] == "done" for r in store.runs())
        assert numbers(store) == reference
        # Each round continued from the checkpoint of the epoch before it.
        assert all(r["env"].get("resumed_after_epoch") == 2 for r in store.runs())
    assert not (tmp_path / "rounds" / "checkpoints").exists()
