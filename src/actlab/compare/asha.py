"""Early stopping across the runs of a sweep: the rule (:class:`Asha`), and its asynchronous variant (ASHA).

The rule is used two ways. By default (``--early-stop asha``) the execution
loop decides each rung *synchronously*: every live configuration trains to
the rung, then the whole rung is ranked at once (successive halving; see
:mod:`actlab.compare.halving`), so the result does not depend on which run
arrived first. ``--early-stop asha:async`` chooses the asynchronous variant
described below (:class:`AshaExecutor`), for executors whose workers would
otherwise idle at a rung; its promotions depend on arrival order.

A *configuration* (one activation x grid point, all its seeds together) is
checked at rung epochs ``first_rung * eta**k`` that lie before its last
epoch (1, 3, 9 for eta=3 and 12 epochs). When every live seed of a
configuration has finished a rung epoch, its score (the mean validation
metric of those seeds: accuracy, or for a lower-is-better metric such as
bits per character the best scores are the lowest) joins the scores
recorded at that rung so far, by
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
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, NamedTuple, Optional

from ..store import FINAL_STATUSES, canonical_json
from .events import EpochEvent, RunsRestarted, RunsStopped

POLL_SECONDS = 0.02  # how often a waiting worker looks for its decision
# The driver answers within milliseconds of storing the rung epoch; silence this long means it is gone.
DECISION_TIMEOUT = 600.0


@dataclass(frozen=True)
class Asha:
    """The rule: reduction factor ``eta``, the first rung epoch, and whether rungs are decided
    asynchronously (as each configuration arrives; default: synchronously, over the whole rung)."""

    eta: int = 3
    first_rung: int = 1
    asynchronous: bool = False

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

    def describe(self, epochs) -> str:
        """What ran, in one line (printed at the start of a study with early stopping)."""
        rungs = sorted({r for e in epochs for r in self.rungs(int(e))})
        at = ", ".join(map(str, rungs)) or "none (too few epochs)"
        if self.asynchronous:
            return (f"early stopping: asynchronous ASHA, eta {self.eta}, rungs {at}: promotions depend on "
                    "arrival order")
        return f"early stopping: synchronous successive halving, eta {self.eta}, rungs {at}"


def _value(score: float, higher_is_better: bool = True) -> float:
    """The score turned so that higher is better; a missing (diverged) score is the worst."""
    if score is None or math.isnan(score):
        return -math.inf
    return score if higher_is_better else -score


class Ladder:
    """The scores recorded at each rung, and the promotion decision for a new one.

    ``higher_is_better``: the metric's direction (False for bits per character or RMSE: the lowest go on)."""

    def __init__(self, rule: Asha, history: Iterable[tuple] = (), higher_is_better: bool = True,
                 column: str = "val_acc"):
        self.rule = rule
        self.higher_is_better = higher_is_better
        self.column = column  # how the reasons name the score ('val_acc', 'val_bpc')
        self.scores: dict[int, dict[str, float]] = {}
        for key, epoch, score in history:
            self.scores.setdefault(epoch, {})[key] = score

    def report(self, key: str, epoch: int, score: float) -> tuple[bool, str]:
        """Record ``key``'s score at rung ``epoch``; return (goes on?, why)."""
        at_rung = self.scores.setdefault(epoch, {})
        at_rung[key] = score
        n, keep = len(at_rung), self.rule.keep(len(at_rung))
        up = self.higher_is_better
        better = sum(_value(s, up) > _value(score, up) for k, s in at_rung.items() if k != key)
        cutoff = sorted(at_rung.values(), key=lambda s: _value(s, up), reverse=True)[keep - 1]
        cutoff = -math.inf if cutoff is None or math.isnan(cutoff) else cutoff
        go = better < keep
        verdict = "among" if go else "not among"
        return go, (f"mean {self.column} {score:.4f} after epoch {epoch} is {verdict} the best {keep} of {n} "
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


def _tracker(unit, rule: Asha, run_ids=None, partial: Mapping = MappingProxyType({})) -> RungTracker:
    """A unit's tracker; ``partial`` (config key -> rung -> {run_id: val_acc}) holds the rung epochs its
    configuration stored before a resume, so a rung some seeds reached before the kill is still decided."""
    tracker = RungTracker(run_ids or unit.run_ids, rule.rungs(int(unit.configs[0]["epochs"])))
    tracker.pending = {epoch: dict(got) for epoch, got in partial.get(config_key(unit.configs[0]), {}).items()}
    return tracker


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
    partial: Mapping = field(default_factory=dict)  # see _tracker
    needs_whole_units = True

    def __call__(self, unit, emit) -> None:
        tracker = _tracker(unit, self.rule, partial=self.partial)

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

    ``history`` and ``partial``: the rung scores recorded earlier in this
    study and the rungs some seeds had reached (see :func:`replay`), so a
    resumed study decides as if it had not been interrupted.
    ``higher_is_better`` and ``column``: the study's metric (:attr:`Replay.higher_is_better`; False for bits per
    character, where the highest scores stop).
    """

    def __init__(self, inner, rule: Asha = Asha(), history: Iterable[tuple] = (),
                 partial: Mapping = MappingProxyType({}), higher_is_better: bool = True, column: str = "val_acc"):
        self.inner, self.rule = inner, rule
        self.history, self.partial = list(history), partial
        self.ladder = Ladder(rule, self.history, higher_is_better, column)

    def _board(self):
        if hasattr(self.inner, "make_board"):
            return self.inner.make_board()
        return LocalBoard() if getattr(self.inner, "name", "") == "in-process" else ManagerBoard()

    def run(self, units, task, on_event) -> None:
        unit_of = {run_id: unit for unit in units for run_id in unit.run_ids}
        trackers = {unit.unit_id: _tracker(unit, self.rule, partial=self.partial) for unit in units}
        board = self._board()

        def handle(event) -> None:
            on_event(event)  # store first: a decision never outruns the epoch it is based on
            if isinstance(event, RunsRestarted):
                unit = unit_of[event.run_ids[0]]
                # The retry continues where the unit began: back to the ladder and rungs of that moment.
                trackers[unit.unit_id] = _tracker(unit, self.rule, event.run_ids, self.partial)
                key = config_key(unit.configs[0])
                self.ladder.forget(key)
                for epoch, score in ((e, s) for k, e, s in self.history if k == key):
                    self.ladder.scores.setdefault(epoch, {})[key] = score
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
            self.inner.run(units, StoppableTask(task, board.reader, self.rule, dict(self.partial)), handle)
        finally:
            board.close()


class Replay(NamedTuple):
    history: list  # (config key, rung epoch, score) of every decided rung, in the order they were decided
    stops: list    # RunsStopped for runs whose 'stop' was decided but not stored (killed in between)
    partial: dict  # config key -> rung -> {run_id: val_acc}: rungs that some but not all seeds reached
    higher_is_better: bool = True  # the study's metric direction, for AshaExecutor
    column: str = "val_acc"  # the score's name in the reasons ('val_bpc' for bits per character)


def replay(store, rule: Asha) -> Replay:
    """The ladder as it stood when the study was interrupted, rebuilt from the stored epochs alone.

    The driver decides a rung right after storing the epoch that completes
    it, so feeding every stored epoch, in the order they were stored, through
    the same trackers and ladder repeats each decision exactly. This gives a
    resume three things a kill can take away: the scores of configurations
    still training (they count as rivals at their rungs), the stop of a
    configuration whose rung was decided but not yet stored, and the rungs
    only some of its seeds had reached.
    """
    from ..results.metric import metric_of

    metric = metric_of((store.study() or {}).get("config") or {})
    runs = store.runs()
    key_of = {r["run_id"]: config_key(r["config"]) for r in runs}
    unfinished = {r["run_id"] for r in runs if r["status"] not in FINAL_STATUSES}
    members: dict[str, list[dict]] = {}
    for run in runs:
        members.setdefault(key_of[run["run_id"]], []).append(run)
    trackers = {key: RungTracker([r["run_id"] for r in group], rule.rungs(group[0]["epochs"]))
                for key, group in members.items()}
    ladder, decided, stops = Ladder(rule, (), metric.higher_is_better, metric.column("val")), [], []
    for row in store.epochs_in_arrival_order():
        key = key_of[row["run_id"]]
        rung = trackers[key].feed(EpochEvent(row["run_id"], row))
        if rung is None:
            continue
        go, reason = ladder.report(key, rung.epoch, rung.score)
        decided.append((key, rung.epoch, rung.score))
        cut = tuple(i for i in rung.live if i in unfinished)
        if not go and cut:
            stops.append(RunsStopped(cut, rung.epoch, rung.score, reason))
    partial = {key: t.pending for key, t in trackers.items() if t.pending}
    return Replay(decided, stops, partial, metric.higher_is_better, metric.column("val"))


def history(store, rule: Asha) -> list[tuple]:
    """(config key, rung epoch, score) of every rung decided in this study so far (see :func:`replay`)."""
    return replay(store, rule).history


def parse_early_stop(text: Optional[str]) -> Optional[Asha]:
    """'asha' (synchronous, eta 3, rungs 1, 3, 9, ...), 'asha:eta=2', 'asha:eta=3,first=2', 'asha:async'
    (asynchronous promotions), or None/'none' -> None."""
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    name, _, params = text.strip().partition(":")
    if name.lower() != "asha":
        raise ValueError(f"--early-stop {text!r}: unknown method; expected 'asha', e.g. 'asha:eta=3,first=1', "
                         "or 'asha:async' for asynchronous promotions")
    values, asynchronous = {}, False
    for item in filter(None, (p.strip() for p in params.split(","))):
        if item.lower() in ("async", "sync"):
            asynchronous = item.lower() == "async"
            continue
        key, _, value = item.partition("=")
        if key not in ("eta", "first") or not value.strip().isdigit():
            raise ValueError(f"--early-stop {text!r}: {item!r} is not eta=N or first=N (whole numbers), "
                             "'async' or 'sync'")
        values[key] = int(value)
    return Asha(eta=values.get("eta", 3), first_rung=values.get("first", 1), asynchronous=asynchronous)
