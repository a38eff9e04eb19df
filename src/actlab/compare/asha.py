"""Early stopping across the runs of a sweep: asynchronous successive halving (ASHA).

A *configuration* (one activation x grid point, all its seeds together) is
checked at rung epochs ``first_rung * eta**k`` that lie before its last
epoch (1, 3, 9 for eta=3 and 12 epochs). When every live seed of a
configuration has finished a rung epoch, its score (the mean validation
accuracy of those seeds) joins the scores recorded at that rung so far, by
any configuration in this or an earlier session of the study. It goes on only
if it is among the best ``max(1, n // eta)`` of those ``n`` scores; otherwise
its runs stop there and are recorded as stopped (see
:mod:`actlab.compare.scaleout`), outside the statistics.

The decision is taken at once, without waiting for other configurations
(the asynchronous variant): early arrivals face fewer rivals, and the first
configuration at a rung always goes on. With more than one worker the
arrival order, and so which borderline configuration stops, can differ from
run to run; with one worker it is fixed. The test set plays no part.

Mechanics: the parent process decides (it sees every epoch as it is stored)
and posts each decision on a *board*; the training task, wrapped by
:class:`AshaExecutor`, waits at each rung for its decision and returns early
when told to stop. The board is a dict in-process, a multiprocessing manager
for the process pool, and an actor for Ray (``executor.make_board()``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Optional

from ..store import canonical_json
from .executors import EpochEvent, InProcessExecutor
from .scaleout import RunsRestarted, RunsStopped

POLL_SECONDS = 0.02  # how often a waiting worker looks for its decision
# The driver answers within milliseconds of storing the rung epoch; silence this long means it is gone.
DECISION_TIMEOUT = 600.0


@dataclass(frozen=True)
class Asha:
    """The rule: reduction factor ``eta`` and the first rung epoch."""

    eta: int = 3
    first_rung: int = 1

    def __post_init__(self):
        if not isinstance(self.eta, int) or self.eta < 2:
            raise ValueError(f"ASHA's reduction factor eta must be an integer of at least 2 (got {self.eta!r})")
        if not isinstance(self.first_rung, int) or self.first_rung < 1:
            raise ValueError(f"ASHA's first rung must be an epoch number of at least 1 (got {self.first_rung!r})")

    def rungs(self, epochs: int) -> tuple:
        """Rung epochs before the last epoch: a run's last epoch needs no decision."""
        out, rung = [], self.first_rung
        while rung < epochs:
            out.append(rung)
            rung *= self.eta
        return tuple(out)

    def keep(self, n: int) -> int:
        """How many of ``n`` scores at a rung go on."""
        return max(1, n // self.eta)


def _value(score: float) -> float:
    return -math.inf if score is None or math.isnan(score) else score


class Ladder:
    """The scores recorded at each rung, and the promotion decision for a new one."""

    def __init__(self, rule: Asha, history: Iterable[tuple] = ()):
        self.rule = rule
        self.scores: dict[int, dict[str, float]] = {}
        for key, epoch, score in history:
            self.scores.setdefault(epoch, {})[key] = score

    def report(self, key: str, epoch: int, score: float) -> tuple[bool, str]:
        """Record ``key``'s score at rung ``epoch``; return (goes on?, why)."""
        at_rung = self.scores.setdefault(epoch, {})
        at_rung[key] = score
        n, keep = len(at_rung), self.rule.keep(len(at_rung))
        better = sum(_value(s) > _value(score) for k, s in at_rung.items() if k != key)
        cutoff = sorted((_value(s) for s in at_rung.values()), reverse=True)[keep - 1]
        go = better < keep
        verdict = "among" if go else "not among"
        return go, (f"mean val_acc {score:.4f} after epoch {epoch} is {verdict} the best {keep} of {n} "
                    f"recorded at this rung (cutoff {cutoff:.4f}, eta={self.rule.eta})")

    def forget(self, key: str) -> None:
        """Drop every score of ``key`` (its runs start again from scratch)."""
        for at_rung in self.scores.values():
            at_rung.pop(key, None)


def config_key(config: dict) -> str:
    """What identifies a configuration across sessions: its training settings without the seed."""
    return canonical_json({k: v for k, v in config.items() if k != "seed"})


class Rung(NamedTuple):
    epoch: int
    score: float
    live: tuple  # run ids still training (not diverged)


class RungTracker:
    """Follows one unit's epoch events; says when every live run has finished a rung epoch."""

    def __init__(self, run_ids: Iterable[int], rungs: Iterable[int]):
        self.live = set(run_ids)
        self.rungs = set(rungs)
        self.pending: dict[int, dict[int, Optional[float]]] = {}

    def feed(self, event: EpochEvent) -> Optional[Rung]:
        epoch = int(event.record["epoch"])
        if epoch in self.rungs:
            self.pending.setdefault(epoch, {})[event.run_id] = event.record.get("val_acc")
        if event.record.get("diverged"):
            self.live.discard(event.run_id)
        for rung in sorted(self.pending):
            got = self.pending[rung]
            if self.live <= set(got):
                del self.pending[rung]
                values = [math.nan if v is None else float(v) for v in got.values()]
                return Rung(rung, sum(values) / len(values), tuple(sorted(self.live)))
        return None


def _tracker(unit, rule: Asha, run_ids=None) -> RungTracker:
    return RungTracker(run_ids or unit.run_ids, rule.rungs(int(unit.configs[0]["epochs"])))


# --- boards: decisions from the parent to the training tasks --------------- #
class LocalBoard:
    """In-process: the decision is always posted before the task asks (same thread)."""

    def __init__(self):
        self.decisions: dict = {}
        self.reader = self

    def post(self, key, go: bool) -> None:
        self.decisions[key] = go

    def wait(self, key) -> bool:
        return self.decisions[key]

    def clear(self, unit_id: int) -> None:
        for key in [k for k in self.decisions.keys() if k[0] == unit_id]:  # keys(): a manager's dict too
            del self.decisions[key]

    def close(self) -> None:
        self.decisions.clear()


class PollingReader:
    """Worker side of a shared board: polls a mapping (or anything with ``get``) until the decision is there."""

    def __init__(self, mapping):
        self.mapping = mapping

    def wait(self, key) -> bool:
        deadline = time.monotonic() + DECISION_TIMEOUT
        while (go := self.mapping.get(key)) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no early-stopping decision for unit {key[0]} after epoch {key[1]} within "
                                   f"{DECISION_TIMEOUT:.0f} s; the process that runs the sweep seems to be gone")
            time.sleep(POLL_SECONDS)
        return go


class ManagerBoard(LocalBoard):
    """For worker processes: the decisions live in a multiprocessing manager's dict."""

    def __init__(self):
        import multiprocessing

        self._manager = multiprocessing.get_context("spawn").Manager()
        self.decisions = self._manager.dict()
        self.reader = PollingReader(self.decisions)

    def close(self) -> None:
        self._manager.shutdown()


class _StopUnit(BaseException):
    """Raised through the training loop to end a stopped unit; a BaseException so no broad
    ``except Exception`` in training code can swallow it."""


@dataclass(frozen=True)
class StoppableTask:
    """Wraps a task: after each completed rung, wait for the parent's decision and return early on 'stop'.

    A rung is complete when every live seed of the unit has reached it, so the
    unit's runs must train in one task (executors check ``needs_whole_units``).
    """

    task: Callable
    reader: object
    rule: Asha
    needs_whole_units = True

    def __call__(self, unit, emit) -> None:
        tracker = _tracker(unit, self.rule)

        def checked(event) -> None:
            emit(event)
            if isinstance(event, EpochEvent):
                rung = tracker.feed(event)
                if rung is not None and not self.reader.wait((unit.unit_id, rung.epoch)):
                    raise _StopUnit

        try:
            self.task(unit, checked)
        except _StopUnit:
            return


class AshaExecutor:
    """Any executor, with ASHA early stopping; emits :class:`RunsStopped` for the runs it ends.

    ``history``: (config key, epoch, score) triples recorded earlier in this
    study (see :func:`history`), so a resumed study decides as if it had not
    been interrupted.
    """

    def __init__(self, inner, rule: Asha = Asha(), history: Iterable[tuple] = ()):
        self.inner, self.rule = inner, rule
        self.ladder = Ladder(rule, history)

    def _board(self):
        if hasattr(self.inner, "make_board"):
            return self.inner.make_board()
        return LocalBoard() if isinstance(self.inner, InProcessExecutor) else ManagerBoard()

    def run(self, units, task, on_event) -> None:
        unit_of = {run_id: unit for unit in units for run_id in unit.run_ids}
        trackers = {unit.unit_id: _tracker(unit, self.rule) for unit in units}
        board = self._board()

        def handle(event) -> None:
            on_event(event)  # store first: a decision never outruns the epoch it is based on
            if isinstance(event, RunsRestarted):
                unit = unit_of[event.run_ids[0]]
                trackers[unit.unit_id] = _tracker(unit, self.rule, event.run_ids)
                self.ladder.forget(config_key(unit.configs[0]))
                board.clear(unit.unit_id)
            elif isinstance(event, EpochEvent):
                unit = unit_of[event.run_id]
                rung = trackers[unit.unit_id].feed(event)
                if rung is None:
                    return
                go, reason = self.ladder.report(config_key(unit.configs[0]), rung.epoch, rung.score)
                if not go and rung.live:
                    on_event(RunsStopped(rung.live, rung.epoch, rung.score, reason))
                board.post((unit.unit_id, rung.epoch), go)

        try:
            self.inner.run(units, StoppableTask(task, board.reader, self.rule), handle)
        finally:
            board.close()


def history(store, rule: Asha, stopped: Iterable[int]) -> list[tuple]:
    """(config key, rung epoch, score) for every configuration whose runs are all done or stopped."""
    stopped = set(stopped)
    groups: dict[str, list[dict]] = {}
    for run in store.runs():
        groups.setdefault(config_key(run["config"]), []).append(run)
    val: dict[tuple, float] = {(row["run_id"], row["epoch"]): row["val_acc"] for row in store.epochs()}
    out = []
    for key, runs in groups.items():
        if not all(r["status"] == "done" or r["run_id"] in stopped for r in runs):
            continue
        for epoch in rule.rungs(runs[0]["epochs"]):
            values = [val[(r["run_id"], epoch)] for r in runs if (r["run_id"], epoch) in val]
            if values:
                values = [math.nan if v is None else float(v) for v in values]
                out.append((key, epoch, sum(values) / len(values)))
    return out


def parse_early_stop(text: Optional[str]) -> Optional[Asha]:
    """'asha' (eta 3, rungs 1, 3, 9, ...), 'asha:eta=2', 'asha:eta=3,first=2', or None/'none' -> None."""
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    name, _, params = text.strip().partition(":")
    if name.lower() != "asha":
        raise ValueError(f"--early-stop {text!r}: unknown method; expected 'asha' or e.g. 'asha:eta=3,first=1'")
    values = {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, _, value = item.partition("=")
        if key not in ("eta", "first") or not value.strip().isdigit():
            raise ValueError(f"--early-stop {text!r}: {item!r} is not eta=N or first=N (whole numbers)")
        values[key] = int(value)
    return Asha(eta=values.get("eta", 3), first_rung=values.get("first", 1))
