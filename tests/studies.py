"""Helpers the study tests share: a fresh store for a Study, and its stored numbers (every epoch field but time)."""
from actlab.store import EPOCH_FIELDS, Store

NUMBERS = tuple(k for k in EPOCH_FIELDS if k != "seconds")


def new_store(folder, study):
    """A results store in the new ``folder`` holding ``study``'s row and its planned runs."""
    folder.mkdir()
    store = Store(folder / "results.sqlite")
    store.ensure_study(study.study_id(), study.config(), "test", "0")
    store.add_runs(study.runs())
    return store


def numbers(store):
    """(activation, seed, epoch, every stored number but the epoch's seconds) per stored epoch."""
    return [(e["activation"], e["seed"], e["epoch"], *(e[k] for k in NUMBERS)) for e in store.epochs()]


def at_selected_epoch(folder):
    """(activation, seed, status, test metric at the run's lowest-validation-loss epoch) for every run of the
    study in ``folder``, read with plain SQL (not through actlab), ordered by activation and seed."""
    import sqlite3

    conn = sqlite3.connect(f"file:{folder / 'results.sqlite'}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT r.activation, r.seed, r.status, e.test_acc FROM runs r JOIN epochs e USING (run_id) "
        "WHERE e.epoch = (SELECT e2.epoch FROM epochs e2 WHERE e2.run_id = r.run_id "
        "ORDER BY e2.val_loss, e2.epoch LIMIT 1) ORDER BY r.activation, r.seed").fetchall()
    conn.close()
    return rows
