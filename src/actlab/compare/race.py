r"""Racing (``actlab compare --until-decided``): add seeds only where the ranking is still open.

The race starts with the study's ``seeds`` seeds per activation (look 1),
then adds one seed at a time, only to the activations whose place is still
open, and looks again, until every pair is decided, ``max_seeds`` is
reached, or the time ``budget`` would be exceeded. Each look is
:func:`actlab.results.verdict.race_look` (alpha spending over
``max_looks = max_seeds - seeds + 1`` planned looks, Holm over the pairs
across looks, futility stopping; see docs/racing.md), on the number the ranking uses: each run's test
metric at its lowest-validation-loss epoch (:func:`actlab.results.summary.run_results`),
oriented and bounded as the study's metric says (:func:`actlab.results.metric.metric_of`:
accuracy, higher is better; bits per character, lower is better). With a
``tolerance`` D, a pair whose interval at the look's level lies inside [-D, D]
is decided "equivalent within D" (an indifference zone), so activations that
are practically the same stop receiving seeds too.

**All state comes from the store.** Look ``k`` uses seeds ``0 .. seeds+k-2``
of the activations still active after look ``k-1``; :func:`replay` recomputes
every look from the stored runs, so a race killed at any point continues
exactly when the same command runs again (the runs of an unfinished round
are in the store, pending or part-trained, and the next round is whatever
the replayed look asks for). ``race.json`` beside the store records the
looks for readers (:mod:`actlab.results.race_view` shows them in
``actlab.load``, the report and the printout); the race never reads it back. A rerun with another
``max_seeds`` replays the race under the new schedule (as if it had been
planned so from the start); another ``budget`` only changes when this
invocation stops. The budget counts from the start of this invocation.

**The budget is kept inside a round.** With a ``budget`` each round trains
epoch by epoch (``execute(..., until=e)`` for e = 1 .. epochs; a run paused
at epoch e continues bit for bit from its checkpoint), and before each
epoch-step its wall time is estimated from the stored seconds per epoch
(plus this invocation's measured overhead per step: starting the workers),
keeping back as much time as the invocation took to start (for writing the
outputs); the race stops before a step that would end past the budget, so it
overruns by at most one step's estimation error. The first step of a fresh study has
no stored time to estimate from and is started anyway (the statement says so
when it overran). Without a budget a round is one ``execute`` call.

**Goals.** ``goal="ranking"`` (``--until-decided``) settles every pair;
``goal="best"`` (``--until-decided best``) only looks for the best: an
activation stops receiving seeds once another is decided better than it,
and the race ends when one contender is left or the contenders are all
decided equivalent (:func:`~actlab.results.verdict.race_look`).

A study with a grid of two or more points is refused (ValueError, before anything is written): each
grid point is its own comparison, so race one grid point at a time (``--depth 32``).

The loop runs inside :func:`~actlab.compare.runner.open_study` (the one
writer of the study) and trains through :func:`~actlab.compare.scaleout.execute`,
so it works with every executor: in-process, ``--workers N``, Ray.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from ..results.metric import metric_of
from ..results.summary import describe, run_results
from ..results.verdict import race_look
from ..results.verdict.racing import FUTILITY, SPENDING, amount_text
from ..store import atomic_write

ENDED = ("done", "diverged", "stopped")
FIRST_SEEDS = 3  # seeds per activation at the first look when --seeds is not given
MAX_SEEDS = 10  # default --max-seeds
GOALS = ("ranking", "best")  # --until-decided [ranking|best]
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_budget(text: str) -> float:
    """'90s', '30m', '2h', '1h30m' (or a plain number of seconds) -> seconds.

    Examples:
        >>> parse_budget("1h30m"), parse_budget("90s"), parse_budget("45")
        (5400.0, 90.0, 45.0)
    """
    t = str(text).strip().lower().replace(" ", "")
    parts = re.fullmatch(r"((?:\d+(?:\.\d+)?[hms])+|\d+(?:\.\d+)?)", t)
    if not parts:
        raise ValueError(f"--budget {text!r} is not a duration; give e.g. 90s, 30m, 2h or 1h30m")
    if t[-1].isdigit():
        seconds = float(t)
    else:
        seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([hms])", t))
    if not seconds > 0 or not math.isfinite(seconds):
        raise ValueError(f"--budget {text!r} must be a positive duration, e.g. 90s, 30m or 2h")
    return seconds


def check_max_seeds(max_seeds: int, first: int) -> int:
    """The planned number of looks for a race from ``first`` to ``max_seeds`` seeds, one seed per look."""
    if not isinstance(max_seeds, int) or max_seeds < max(first, 2):
        raise ValueError(f"--max-seeds must be a whole number of at least --seeds ({first}) and at least 2 "
                         f"(got {max_seeds!r})")
    return max_seeds - first + 1


@dataclass
class RaceState:
    """The race as the store has it: the looks made so far and the runs the next look needs.

    Attributes:
        looks: every look possible with the finished runs, in order (:class:`~actlab.results.verdict.Look`).
        need: ``[(label, seed)]`` runs not finished that the next look needs (empty when the race is over).
        labels: every activation (x grid point) label, in study order.
        seeds_used: ``{label: number of seeds its looks used}``.
    """

    looks: list
    need: list
    labels: list
    seeds_used: dict = field(default_factory=dict)

    @property
    def last(self):
        return self.looks[-1] if self.looks else None

    @property
    def finished(self) -> bool:
        return bool(self.looks) and self.looks[-1].finished


def race_values(store) -> tuple[dict, set]:
    """``({label: {seed: value}}, {(label, seed) ended})``: the ranking's number for every finished run
    (test accuracy at the lowest-validation-loss epoch; diverged runs are ended but have no value)."""
    values: dict = {}
    for r in run_results(store.epochs()):
        if not r.diverged and math.isfinite(r.test_acc):
            values.setdefault(r.label, {})[r.seed] = r.test_acc
    ended = {(describe(run), run["seed"]) for run in store.runs() if run["status"] in ENDED}
    return values, ended


def replay(store, labels, first: int, max_looks: int, *, alpha: float = 0.05, spending: str = SPENDING,
           goal: str = "ranking", tolerance: float = 0.0, metric=None, **rule) -> RaceState:
    """Every look the stored runs allow, from look 1, and the runs the next look needs (:func:`race_state`
    over the store's values; the metric is the study's own unless given)."""
    values, ended = race_values(store)
    if metric is None:
        study = store.study()
        metric = metric_of((study or {}).get("config") or {})
    return race_state(values, ended, labels, first, max_looks, alpha=alpha, spending=spending, goal=goal,
                      tolerance=tolerance, metric=metric, **rule)


def race_state(values, ended, labels, first: int, max_looks: int, *, alpha: float = 0.05,
               spending: str = SPENDING, goal: str = "ranking", since: Optional[RaceState] = None,
               tolerance: float = 0.0, metric=None, **rule) -> RaceState:
    """The race's schedule, a pure function of the results: every look they allow, and what the next needs.

    Look ``k`` needs seeds ``0 .. first+k-2`` ended for every activation still active after look
    ``k-1`` (all activations at look 1), and uses exactly those seeds' values (any others are ignored,
    so the looks follow the planned schedule whatever else the store holds).

    Args:
        values: ``{label: {seed: value}}`` of runs with a usable value.
        ended: ``{(label, seed)}`` of runs that ended (done, diverged or stopped).
        labels: every label, in study order.
        first, max_looks: seeds at look 1; planned looks (one more seed per look).
        alpha, spending, goal: as for :func:`~actlab.results.verdict.race_look`.
        since: an earlier state of this race with the same settings, whose looks are kept instead of
            recomputed (valid because a look only reads values of ended runs, which never change; a
            shortcut for simulations, the study loop always replays from look 1).
        tolerance: the indifference zone in the metric's own units (0.003 = 0.3 accuracy points; 0: off).
        metric: the study's :class:`~actlab.results.metric.Metric` (direction, range, how differences are
            written); accuracy when None.
        rule: ``method`` and ``futility`` for :func:`~actlab.results.verdict.race_look` (its defaults when
            not given: Holm's alpha passing, futility 0.1).
    """
    metric = metric_of({}) if metric is None else metric
    scale, unit = metric.scale, metric.unit
    looks, active, previous = [], list(labels), None
    used = {label: 0 for label in labels}
    if since is not None and since.looks:
        looks, previous, used = list(since.looks), since.looks[-1], dict(since.seeds_used)
        active = previous.active
        if previous.finished:
            return RaceState(looks, [], list(labels), used)
    for k in range(len(looks) + 1, max_looks + 1):
        n = first + k - 1
        need = [(label, s) for label in active for s in range(n) if (label, s) not in ended]
        if need:
            return RaceState(looks, need, list(labels), used)
        for label in active:
            used[label] = n
        seen = {label: {s: v for s, v in values.get(label, {}).items() if s < n} for label in labels}
        previous = race_look(seen, look=k, max_looks=max_looks, alpha=alpha, spending=spending, goal=goal,
                             previous=previous, higher_is_better=metric.higher_is_better, span=metric.span,
                             scale=scale, unit=unit, tolerance=tolerance, **rule)
        looks.append(previous)
        active = previous.active
        if previous.finished:
            break
    return RaceState(looks, [], list(labels), used)


def round_seconds(store, need, epochs: int, workers: int, *, until: Optional[int] = None) -> Optional[float]:
    """Estimated wall time of a round training ``need`` (from the stored seconds per epoch of each label,
    else of the study), spread over ``workers``; None when no epoch time is stored yet.

    ``until``: only as far as that epoch (an epoch-step of a budgeted race: the runs already there cost
    nothing). The cost of a run is (its epochs left) x (mean stored seconds per epoch of its label); the
    round's time is the makespan of those runs on ``workers`` lanes (:func:`_makespan`).
    """
    per_label: dict = {}
    for row in store.epochs():
        if row["seconds"] is not None and math.isfinite(row["seconds"]):
            per_label.setdefault(describe(row), []).append(row["seconds"])
    every = [s for v in per_label.values() for s in v]
    if not every:
        return None
    stored = {(describe(r), r["seed"]): store.stored_epochs(r["run_id"]) for r in store.runs()}
    last = epochs if until is None else min(until, epochs)
    costs = []
    for label, seed in need:
        times = per_label.get(label) or every
        costs.append(max(0, last - stored.get((label, seed), 0)) * sum(times) / len(times))
    return _makespan(costs, workers)


def _makespan(costs, workers: int) -> float:
    """Wall time of runs with these costs on ``workers`` lanes, each run given to the least loaded lane,
    longest first (a pool hands out single runs; 5 equal runs on 2 workers take 3 runs' time, not 2.5).

    Examples:
        >>> _makespan([10.0] * 5, 2), _makespan([4.0, 3.0, 3.0], 2), _makespan([], 2)
        (30.0, 6.0, 0.0)
    """
    lanes = [0.0] * max(1, workers)
    for cost in sorted(costs, reverse=True):
        lanes[lanes.index(min(lanes))] += cost
    return max(lanes)


@dataclass
class RaceOutcome:
    """How a race ended and what it found (the ranking itself is in the study's summary)."""

    state: RaceState
    reason: str  # "decided", "max_seeds", "futile", "budget"
    max_seeds: int
    first: int
    runs_trained: int
    epochs_trained: int
    budget: Optional[float] = None
    elapsed: float = 0.0
    next_round: Optional[float] = None  # a budgeted stop: the estimated time of what the next look still needs
    goal: str = "ranking"
    epochs_left: int = 0  # a budgeted stop: the epochs the next look's runs still need
    next_step: Optional[tuple] = None  # a budgeted stop: (epoch, runs, estimated seconds, seconds kept for the
    # outputs) of the step not started
    blind: Optional[float] = None  # seconds of a first step started with no stored time, when it overran

    @property
    def text(self) -> str:
        """Plain lines: why the race stopped, the seeds it spent, what is decided, what is open."""
        return "\n".join(self.lines())

    def lines(self, statement: bool = True) -> list[str]:
        """:attr:`text`'s lines; ``statement=False`` leaves out the last look's statement (for a printout
        whose verdict already leads with it)."""
        s, look = self.state, self.state.last
        fixed = len(s.labels) * self.max_seeds
        runs = sum(s.seeds_used.values())
        seeds = ", ".join(f"{label} {n}" for label, n in s.seeds_used.items())
        why = {"decided": self._decided(),
               "max_seeds": f"stopped at --max-seeds {self.max_seeds}",
               "futile": (f"stopped early: no open pair is likely to be decided by --max-seeds {self.max_seeds} "
                          "(low conditional power; the open pairs are named below)"),
               "budget": f"stopped by --budget {_duration(self.budget)} ({_duration(self.elapsed)} used{self._step()})"
               }[self.reason]
        lines = [f"racing{' for the best' if self.goal == 'best' else ''}: {why}; {runs} runs ranked (seeds per "
                 f"activation: {seeds}) against {fixed} for a fixed {self.max_seeds}-seed study; this invocation "
                 f"trained {self.runs_trained} runs, {self.epochs_trained} epochs"]
        if self.blind is not None:
            lines.append(f"racing: the first step of this fresh study (a probe: epoch 1 of one activation per "
                         f"worker) had no stored time to estimate from, so it was started anyway and took "
                         f"{_duration(self.blind)}, past the budget; later steps are estimated from it")
        if look is not None and statement:
            lines.append(f"racing (look {look.look} of {look.max_looks}; family-wise alpha {look.alpha} over all "
                         f"pairs and looks): {look.statement}")
        if self.reason == "budget" and s.need:
            add = sorted({label for label, _ in s.need})
            what = (f"{len(s.need)} runs ({', '.join(add)}), {self.epochs_left} epochs still to train"
                    + (f", about {_duration(self.next_round)} at the stored seconds per epoch"
                       if self.next_round is not None else ""))
            nxt = 1 if look is None else look.look + 1
            lines.append(f"racing: still open after the budget: {'no look yet; ' if look is None else ''}look {nxt} "
                         f"needs {what}; rerun the same command (with a larger --budget) to continue")
        elif look is None:
            lines.append("racing: no look yet: the first round is not finished; rerun the same command to "
                         "continue")
        return lines

    def _step(self) -> str:
        if self.next_step is None:
            return ""
        epoch, runs, seconds, reserve = self.next_step
        return (f"; the next step, {runs} run{'s' if runs != 1 else ''} to epoch {epoch}, needs about "
                f"{_duration(seconds)}" + (f" (plus {_duration(reserve)} kept for the outputs)" if reserve >= 0.5
                                           else ""))

    def _decided(self) -> str:
        """Why a decided race is decided: every pair settled (ranking), or who is best (best)."""
        look = self.state.last
        if self.goal != "best" or look is None:
            return "decided: every pair is settled"
        losers = {worse for _, worse in look.decided}
        top = [k for k in self.state.labels if k not in losers]
        if len(top) == 1:
            return f"decided: {top[0]} is the best (every other activation was decided worse than another)"
        if not top:
            return "decided: every activation was decided worse than another (read the pairs below)"
        zone = amount_text(look.scale * look.tolerance, look.unit)
        return (f"decided: {', '.join(top)} are the best, within {zone} of each other (every other activation "
                "was decided worse than another)")


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return (f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s")


def write_race_json(path, state: RaceState, outcome_reason: Optional[str], *, first: int, max_seeds: int,
                    alpha: float, spending: str, tolerance: float = 0.0, metric=None, goal: str = "ranking",
                    futility: Optional[float] = None) -> None:
    """race.json: one entry per look (seeds, alpha spent, decided, equivalent and open pairs, active
    activations, the statement), and the race's settings (read by :mod:`actlab.results.race_view`).

    ``diff``, ``ci_low``, ``ci_high`` are in the metric's own units; the interval is the look's (confidence
    1 - alpha_look / pairs), the one the decisions read. ``goal``: "ranking" or "best" (what the race decides);
    ``futility``: the race's futility threshold (None: race_look's default, recorded as its value).
    """
    metric = metric_of({}) if metric is None else metric
    scale, unit = metric.scale, metric.unit

    def pair(r, **names):
        return {**names, "p": r.p, "diff": r.diff, "ci_low": r.ci_low, "ci_high": r.ci_high, "design": r.design,
                "n_a": r.n_a, "n_b": r.n_b}

    looks = []
    for i, look in enumerate(state.looks):
        looks.append({
            "look": look.look, "seeds": first + i, "alpha_look": look.alpha_look,
            "decided": [pair(r, better=a, worse=b) for (a, b), r in look.decided.items()],
            "equivalent": [pair(r, a=a, b=b) for (a, b), r in look.equivalent.items()],
            "open": [pair(r, a=r.a, b=r.b) for r in look.open],
            "futile": [{"a": a, "b": b, "chance": chance} for (a, b), chance in look.futile.items()],
            "active": list(look.active), "settled": list(look.settled), "finished": look.finished,
            "statement": look.statement})
    info = {"first_seeds": first, "max_seeds": max_seeds, "max_looks": max_seeds - first + 1, "alpha": alpha,
            "spending": spending, "goal": goal, "futility": FUTILITY if futility is None else futility,
            "method": state.last.method if state.last else None, "tolerance": tolerance, "metric": metric.name,
            "direction": metric.direction, "scale": scale, "unit": unit, "labels": list(state.labels),
            "seeds_used": dict(state.seeds_used), "looks": looks,
            "next_round": [list(n) for n in state.need], "stopped": outcome_reason}
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=float) + "\n")


def run_race(study, out_dir, *, max_seeds: int = MAX_SEEDS, budget: Optional[float] = None, workers=1,
             executor=None, quiet: bool = False, command: str = "", task=None, alpha: float = 0.05,
             spending: str = SPENDING, tolerance: float = 0.0, goal: str = "ranking",
             futility: Optional[float] = None, clock: Callable[[], float] = time.monotonic):
    """Race ``study`` into ``out_dir``: its ``seeds`` first, then one seed per look where the ranking is open.

    Args:
        study: the :class:`~actlab.compare.sweep.Study`; ``study.seeds`` seeds per activation at look 1.
        out_dir: the study folder (resumed when it holds this study).
        max_seeds: the most seeds any activation receives (fixes the spending schedule).
        budget: seconds this invocation may take; rounds then train epoch by epoch, and an epoch-step the
            remaining time cannot pay for (estimated from the stored epoch times) is not started.
        workers, executor, quiet, command, task: as for :func:`~actlab.compare.runner.run_study`.
        alpha, spending: family-wise error rate over all pairs and looks; the Lan-DeMets spending function.
        tolerance: the indifference zone D in the metric's own units (0.003 for 0.3 accuracy points; the
            CLI's ``--tolerance`` is in points); 0 (default): no pair is decided equivalent.
        goal: ``"ranking"`` (settle every pair) or ``"best"`` (stop once the best is known).
        futility: the conditional power below which an open pair stops drawing seeds
            (:func:`~actlab.results.verdict.race_look`; None: its default; 0: off).

    Returns:
        ``(summary, outcome)``: the study's :class:`~actlab.compare.outputs.Summary` and a :class:`RaceOutcome`.
    """
    from . import scaleout
    from .executors import resolve_workers
    from .outputs import write_config_json, write_outputs
    from .runner import backend_name, open_study

    start = clock()
    first = study.seeds
    max_looks = check_max_seeds(max_seeds, first)
    if goal not in GOALS:
        raise ValueError(f"goal must be 'ranking' or 'best' (got {goal!r})")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0 in the metric's units (got {tolerance!r})")
    metric = metric_of(study.config())
    if budget is not None and not budget > 0:
        raise ValueError(f"budget must be a positive number of seconds (got {budget!r})")
    points = study.grid_points()
    if len(points) > 1:  # a race compares every label with every other: it would race across grid points
        key, value = next(iter(points[0].items()))
        example = f"--depth {value}" if key == "depth" else f"--grid {key}={value}"
        raise ValueError(f"--until-decided cannot race a grid of {len(points)} points (each grid point is its "
                         f"own comparison): race one grid point at a time, e.g. {example}")
    labels = list(dict.fromkeys(describe(r) for r in study.runs()))
    workers = resolve_workers(workers, len(study.runs()))
    out = Path(out_dir)
    runs_trained = epochs_trained = 0
    settings = dict(first=first, max_seeds=max_seeds, alpha=alpha, spending=spending, tolerance=tolerance,
                    metric=metric, goal=goal, futility=futility)
    rule = {} if futility is None else {"futility": futility}
    with open_study(out, study, study.study_id(), study.config(), command, executor, workers,
                    quiet=quiet) as (store, executor, splits):
        if budget is None or any(r["seconds"] is not None for r in store.epochs()):
            store.add_runs(study.runs())  # a fresh budgeted race registers its first runs step by step (probe)
        write_config_json(out / "config.json", study, store, splits, workers, backend_name(executor))
        backend = backend_name(executor)
        clocked = _Clocked(budget, start, clock, workers) if budget is not None else None
        reason, trained_ids = None, set()
        while True:
            state = replay(store, labels, first, max_looks, alpha=alpha, spending=spending, goal=goal,
                           tolerance=tolerance, metric=metric, **rule)
            write_race_json(out / "race.json", state, None, **settings)
            if not state.need:
                reason = _end_reason(state.last)
                break
            before = _epoch_count(store)
            if clocked is None:  # no budget: the round is one call of the executor
                _add_seed_runs(store, study, state.need)
                runs_trained += scaleout.execute(study, store, executor, task=task, quiet=quiet, backend=backend)
            else:
                finished = clocked.round(study, store, state.need, lambda e, paused: scaleout.execute(
                    study, store, executor, task=task, quiet=quiet, backend=backend, until=e, paused=paused),
                    trained_ids)
            epochs_trained += _epoch_count(store) - before
            if clocked is not None and not finished:
                reason = "budget"
                break
        write_race_json(out / "race.json", state, reason, **settings)
        summary = write_outputs(store, out)
        scaleout.write_stopped_csv(store, out / "stopped.csv")
        left, rest = 0, None
        if reason == "budget":  # what the next look still needs: its epochs, and their time with each step's overhead
            left = _epochs_left(store, state.need, study.epochs)
            rest = round_seconds(store, state.need, study.epochs, workers)
            if rest is not None:
                rest += clocked.overhead * (study.epochs - clocked.stopped_at[0] + 1)
    if clocked is not None:
        runs_trained = len(trained_ids)
    budgeted = clocked is not None and reason == "budget"
    outcome = RaceOutcome(state, reason, max_seeds, first, runs_trained, epochs_trained, budget, clock() - start,
                          rest, goal, left, clocked.stopped_at if budgeted else None,
                          clocked.blind if clocked is not None and clocked.blind_overran else None)
    return summary, outcome


class _Clocked:
    """A budgeted race's rounds, trained epoch by epoch, each step started only if its estimate fits.

    The estimate of a step (every run of the round not yet at epoch e trained to e) is
    :func:`round_seconds` with ``until=e`` plus the overhead the previous step of this invocation showed
    (its wall time minus the stored seconds of the epochs it trained, over the same lanes: starting worker
    processes, loading data). A fresh study has no stored time: its first step is a probe (epoch 1 of the
    first activation per worker only, registered alone), started blind, its wall time kept in ``blind``
    (``blind_overran`` when the budget was passed by then); the rest of the round is then estimated. Each check also
    keeps back ``reserve``, the time this invocation took before its first step (checking the data, opening
    the store): about what writing the outputs after the last step takes; it is also the overhead assumed
    for the first step of an invocation (starting workers means loading the data again), before one is timed.
    """

    def __init__(self, budget: float, start: float, clock: Callable[[], float], workers: int):
        self.budget, self.start, self.clock, self.workers = budget, start, clock, workers
        self.overhead = 0.0
        self.reserve: Optional[float] = None
        self.stopped_at: Optional[tuple] = None  # (epoch, runs, estimated seconds, reserve) of the step not started
        self.blind: Optional[float] = None
        self.blind_overran = False

    def round(self, study, store, need, train_to: Callable[[int, frozenset], int], trained_ids: set) -> bool:
        """Train the runs of ``need`` step by step to the last epoch; False when the budget stopped it."""
        if self.reserve is None:  # also the first guess at a step's overhead, before any step was timed
            self.reserve = self.overhead = self.clock() - self.start
        for e in range(1, study.epochs + 1):
            while True:
                progress = _progress(store)
                todo = [n for n in need
                        if not progress.get(n, (0, False))[1] and progress.get(n, (0, False))[0] < e]
                if not todo:
                    break
                compute = round_seconds(store, todo, study.epochs, self.workers, until=e)
                step = todo
                if compute is None:  # nothing stored to estimate from: first a probe, one activation per worker
                    labels = list(dict.fromkeys(label for label, _ in todo))[:self.workers]
                    step = [n for n in todo if n[0] in labels]
                else:
                    estimate = compute + self.overhead
                    if self.clock() - self.start + estimate + self.reserve > self.budget:
                        self.stopped_at = (e, len(todo), estimate, self.reserve)
                        return False
                _add_seed_runs(store, study, step)
                # runs this invocation paused at an earlier step continue: no new attempt in the store (a run
                # left 'running' by an earlier invocation, paused or killed, is restarted as a new attempt)
                paused = frozenset(r["run_id"] for r in store.runs()
                                   if r["run_id"] in trained_ids and r["status"] == "running")
                wanted = set(step)
                trained_ids |= {r["run_id"] for r in store.runs() if (describe(r), r["seed"]) in wanted}
                t0 = self.clock()
                train_to(e, paused)
                took = self.clock() - t0
                done = _step_cost(store, step, e, self.workers)
                self.overhead = max(0.0, took - done)
                if compute is None:
                    self.blind = took
                    self.blind_overran = self.clock() - self.start > self.budget
                if step is todo:
                    break
        return True


def _end_reason(last) -> str:
    """Why a race with nothing left to train ended: "decided" (nothing open), "max_seeds" (the last planned
    look), or "futile" (an earlier look stopped sampling: every open pair was judged out of reach)."""
    if last is not None and not last.open:
        return "decided"
    return "futile" if last is not None and last.look < last.max_looks else "max_seeds"


def _progress(store) -> dict:
    """``{(label, seed): (stored epochs, ended)}`` for every run in the store."""
    return {(describe(r), r["seed"]): (store.stored_epochs(r["run_id"]), r["status"] in ENDED)
            for r in store.runs()}


def _step_cost(store, todo, epoch: int, workers: int) -> float:
    """The stored seconds of epoch ``epoch`` of the runs ``todo``, spread over the lanes as
    :func:`round_seconds` spreads an estimate (so the difference to the wall time is the step's overhead)."""
    wanted = set(todo)
    costs = [row["seconds"] for row in store.epochs()
             if row["epoch"] == epoch and (describe(row), row["seed"]) in wanted
             and row["seconds"] is not None and math.isfinite(row["seconds"])]
    return _makespan(costs, workers)


def _epochs_left(store, need, epochs: int) -> int:
    """Epochs the runs of ``need`` still need to end (a run not in the store needs all of them)."""
    progress = _progress(store)
    return sum(epochs - progress.get(n, (0, False))[0] for n in need)


def _add_seed_runs(store, study, need) -> None:
    """Register the runs of ``need`` not in the store yet (same settings as the study's, another seed)."""
    top = max(s for _, s in need) + 1
    wanted = set(need)
    store.add_runs(r for r in replace(study, seeds=max(top, study.seeds)).runs()
                   if (describe(r), r["seed"]) in wanted)


def _epoch_count(store) -> int:
    return len(store.epochs())


__all__ = ["FIRST_SEEDS", "GOALS", "MAX_SEEDS", "RaceOutcome", "RaceState", "check_max_seeds", "parse_budget",
           "race_state", "race_values", "replay", "round_seconds", "run_race", "write_race_json"]
