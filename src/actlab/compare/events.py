"""What an executor reports to the one execution loop (:func:`actlab.compare.runner.execute`), and how.

Workers train and send events; only the calling process writes the results
store. Per unit: :class:`UnitStarted` (an executor that cannot tell may leave
it out: the unit's first epoch then counts as its start), one
:class:`EpochEvent` per finished epoch of each run, then :class:`UnitDone`.
Two more come from executors that retry or stop runs: :class:`RunsRestarted`
(a worker died; its retry continues where the unit began) and
:class:`RunsStopped` (asynchronous early stopping ended these runs).

This module sits at the bottom of :mod:`actlab.compare`'s execution layer:
it imports nothing from the package, so executors, early stopping and the
Ray backend can all use it without importing one another.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union


@dataclass(frozen=True)
class EpochEvent:
    """One finished epoch of one run: the record's fields and its per-layer statistics."""

    run_id: int
    record: dict
    layers: list = field(default_factory=list)


@dataclass(frozen=True)
class UnitStarted:
    unit_id: int


@dataclass(frozen=True)
class UnitDone:
    unit_id: int


@dataclass(frozen=True)
class RunsRestarted:
    """The executor starts these runs again (their worker died); they continue where their unit began."""

    run_ids: tuple
    reason: str


@dataclass(frozen=True)
class RunsStopped:
    """Early stopping ended these runs after ``epoch``; ``score`` is what the decision was based on."""

    run_ids: tuple
    epoch: int
    score: float
    reason: str


Event = Union[UnitStarted, EpochEvent, UnitDone, RunsRestarted, RunsStopped]
Emit = Callable[[EpochEvent], None]


def finishes_run(event: EpochEvent, planned_epochs: int) -> bool:
    """Whether this epoch is its run's last: the planned last epoch, or the one where the loss diverged."""
    return bool(event.record.get("diverged")) or int(event.record["epoch"]) >= planned_epochs


class MissingExtra(ValueError):
    """An optional dependency is not installed (a ValueError, so the CLI prints it as one line)."""


def require_extra(module: str, extra: str, purpose: str):
    """Import an optional dependency, or say exactly what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(f"{purpose} needs the optional package '{module}', which is not installed ({e}); "
                           f"install it with: pip install 'actlab[{extra}]'") from None
