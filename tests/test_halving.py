"""Synchronous successive halving on real training (issue 11): the issue's own example, where asynchronous ASHA
promoted sigmoid because it reached the rung first. Every configuration now trains to the rung and the whole
rung is ranked; the stopped configurations must be exactly the rung's worst, computed here independently from
the stored epochs (plain SQL on results.sqlite), and the same with one worker or two."""
import contextlib
import io
import sqlite3
from collections import defaultdict

import pytest

from actlab.cli import main

ACTIVATIONS = ("sigmoid", "relu", "elu", "gelu", "selu", "tanh")
# The command on the embedded MNIST subset (real images), shrunk to keep it quick: 600 training
# images instead of 3,000 and width 32; six activations, two seeds, four epochs, rungs 1 and 3 as in the issue.
EXAMPLE = ["compare", "--model", "mlp", "--activations", ",".join(ACTIVATIONS), "--epochs", "4", "--seeds", "2",
           "--train-limit", "600", "--width", "32", "--early-stop", "asha"]


def rung_means(db, epoch: int) -> dict:
    """activation -> mean validation accuracy of its seeds at ``epoch`` (None if a seed has no finite value)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT r.activation, e.val_acc, e.diverged FROM epochs e JOIN runs r USING (run_id) "
                            "WHERE e.epoch = ?", (epoch,)).fetchall()
    finally:
        conn.close()
    values = defaultdict(list)
    for activation, val_acc, diverged in rows:
        values[activation].append(None if diverged or val_acc is None else val_acc)
    return {a: None if None in v else sum(v) / len(v) for a, v in values.items()}


def stopped(db) -> dict:
    """activation -> the epoch after which early stopping ended its runs (one value per activation)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT r.activation, s.epoch, r.status FROM stopped_runs s JOIN runs r USING (run_id)")
        out = {}
        for activation, epoch, status in rows:
            assert status == "stopped"
            assert out.setdefault(activation, epoch) == epoch, "the seeds of one configuration stop together"
        return out
    finally:
        conn.close()


def worst(means: dict, stop: int) -> set:
    """The ``stop`` lowest means; a tie at the cut would make the expected set ambiguous, so there must be none."""
    ranked = sorted(means, key=lambda a: means[a])
    assert len(ranked) == stop or means[ranked[stop - 1]] < means[ranked[stop]], f"tie at the cut: {means}"
    return set(ranked[:stop])


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """The example with one worker (in this process) and with two (a process pool): (store path, stderr text)."""
    out = {}
    for workers in ("1", "2"):
        folder = tmp_path_factory.mktemp(f"workers{workers}")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert main([*EXAMPLE, "--workers", workers, "--out", str(folder)]) == 0
        out[workers] = folder / "results.sqlite", err.getvalue()
    return out


def test_the_stopped_configurations_are_exactly_each_rungs_worst(studies):
    db = studies["1"][0]
    at_1 = rung_means(db, 1)
    assert set(at_1) == set(ACTIVATIONS) and None not in at_1.values()
    # Rung 1: six configurations, eta 3: the best two go on, the worst four stop.
    first = worst(at_1, 4)
    survivors = set(ACTIVATIONS) - first
    # Rung 3: only the two survivors take part; the better one goes on to epoch 4.
    at_3 = {a: m for a, m in rung_means(db, 3).items() if a in survivors}
    assert set(at_3) == survivors
    second = worst(at_3, 1)
    assert stopped(db) == {**{a: 1 for a in first}, **{a: 3 for a in second}}
    winner = survivors - second
    assert rung_means(db, 4).keys() == winner


def test_the_decision_does_not_depend_on_the_executor(studies):
    assert stopped(studies["2"][0]) == stopped(studies["1"][0])


def test_the_output_says_which_early_stopping_ran(studies):
    for _, err in studies.values():
        assert "early stopping: synchronous successive halving, eta 3, rungs 1, 3" in err
