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
