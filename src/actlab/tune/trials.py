"""Reading tuning's search trials from the results store (the store owns the tables; see ``Store.add_trial``)."""
from __future__ import annotations

from typing import Optional


def trials(store, status: Optional[str] = None) -> list[dict]:
    """Every trial (optionally only those with ``status``: 'running' or 'done') in the order they were proposed."""
    return store.trials(status)


def trial_epochs(store) -> list[dict]:
    """Every trial epoch: activation, number, epoch, train and validation numbers (no test numbers)."""
    return store.trial_epochs()


def best_trials(store, activations) -> dict:
    """activation -> its best finished trial (highest score; the earliest on ties; a diverged trial, scored
    None, ranks below every scored one)."""
    out = {}
    for t in trials(store, "done"):
        score = -1.0 if t["score"] is None else t["score"]
        current = out.get(t["activation"])
        if current is None or score > (-1.0 if current["score"] is None else current["score"]):
            out[t["activation"]] = t
    missing = [a for a in activations if a not in out]
    if missing:
        raise RuntimeError(f"no finished trial for {', '.join(missing)}; rerun the same command to resume")
    return out
