r"""Racing (``actlab compare --until-decided``): add seeds only where the ranking is still open.

The race starts with the study's ``seeds`` seeds per activation (look 1),
then adds one seed at a time, only to the activations whose place is still
open, and looks again, until every pair is decided, ``max_seeds`` is
reached, or the time ``budget`` would be exceeded. Each look is
:func:`actlab.results.verdict.race_look` (Lan-DeMets alpha spending over
``max_looks = max_seeds - seeds + 1`` planned looks, Bonferroni over the
pairs; see docs/racing.md), on the number the ranking uses: each run's test
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
from ..store import atomic_write

ENDED = ("done", "diverged", "stopped")
FIRST_SEEDS = 3  # seeds per activation at the first look when --seeds is not given
MAX_SEEDS = 10  # default --max-seeds
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


def replay(store, labels, first: int, max_looks: int, *, alpha: float = 0.05, spending: str = "pocock",
           goal: str = "ranking", tolerance: float = 0.0, metric=None) -> RaceState:
    """Every look the stored runs allow, from look 1, and the runs the next look needs (:func:`race_state`
    over the store's values; the metric is the study's own unless given)."""
    values, ended = race_values(store)
    if metric is None:
        study = store.study()
        metric = metric_of((study or {}).get("config") or {})
    return race_state(values, ended, labels, first, max_looks, alpha=alpha, spending=spending, goal=goal,
                      tolerance=tolerance, metric=metric)


def race_state(values, ended, labels, first: int, max_looks: int, *, alpha: float = 0.05,
               spending: str = "pocock", goal: str = "ranking", since: Optional[RaceState] = None,
               tolerance: float = 0.0, metric=None) -> RaceState:
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
                             scale=scale, unit=unit, tolerance=tolerance)
        looks.append(previous)
        active = previous.active
        if previous.finished:
            break
    return RaceState(looks, [], list(labels), used)


def round_seconds(store, need, epochs: int, workers: int) -> Optional[float]:
    """Estimated wall time of a round training ``need`` (from the stored seconds per epoch of each label,
    else of the study), spread over ``workers``; None when no epoch time is stored yet."""
    per_label: dict = {}
    for row in store.epochs():
        if row["seconds"] is not None and math.isfinite(row["seconds"]):
            per_label.setdefault(describe(row), []).append(row["seconds"])
    every = [s for v in per_label.values() for s in v]
    if not every:
        return None
    stored = {(describe(r), r["seed"]): store.stored_epochs(r["run_id"]) for r in store.runs()}
    costs = []
    for label, seed in need:
        times = per_label.get(label) or every
        costs.append((epochs - stored.get((label, seed), 0)) * sum(times) / len(times))
    lanes = max(1, min(workers, len(costs)))
    return max(sum(costs) / lanes, max(costs, default=0.0))


@dataclass
class RaceOutcome:
    """How a race ended and what it found (the ranking itself is in the study's summary)."""

    state: RaceState
    reason: str  # "decided", "max_seeds", "budget"
    max_seeds: int
    first: int
    runs_trained: int
    epochs_trained: int
    budget: Optional[float] = None
    elapsed: float = 0.0
    next_round: Optional[float] = None  # the estimate that stopped a budgeted race

    @property
    def text(self) -> str:
        """Plain lines: why the race stopped, the seeds it spent, what is decided, what is open."""
        s, look = self.state, self.state.last
        fixed = len(s.labels) * self.max_seeds
        runs = sum(s.seeds_used.values())
        seeds = ", ".join(f"{label} {n}" for label, n in s.seeds_used.items())
        why = {"decided": "decided: every pair is settled",
               "max_seeds": f"stopped at --max-seeds {self.max_seeds}",
               "budget": (f"stopped by --budget {_duration(self.budget)} ({_duration(self.elapsed)} used"
                          + (f"; the next round needs about {_duration(self.next_round)})" if self.next_round
                             else ")"))}[self.reason]
        lines = [f"racing: {why}; {runs} runs ranked (seeds per activation: {seeds}) against {fixed} for a "
                 f"fixed {self.max_seeds}-seed study; this invocation trained {self.runs_trained} runs, "
                 f"{self.epochs_trained} epochs"]
        if look is None:
            lines.append("racing: no look yet: the first round is not finished; rerun the same command to "
                         "continue")
        else:
            lines.append(f"racing (look {look.look} of {look.max_looks}; family-wise alpha {look.alpha} over all "
                         f"pairs and looks): {look.statement}")
            if self.reason == "budget" and s.need:
                add = sorted({label for label, _ in s.need})
                lines.append(f"racing: still open after the budget: the next look needs "
                             f"{len(s.need)} more runs ({', '.join(add)}); rerun the same command, with a "
                             "larger --budget, to continue")
        return "\n".join(lines)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return (f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s")


def write_race_json(path, state: RaceState, outcome_reason: Optional[str], *, first: int, max_seeds: int,
                    alpha: float, spending: str, tolerance: float = 0.0, metric=None) -> None:
    """race.json: one entry per look (seeds, alpha spent, decided, equivalent and open pairs, active
    activations, the statement), and the race's settings (read by :mod:`actlab.results.race_view`).

    ``diff``, ``ci_low``, ``ci_high`` are in the metric's own units; the interval is the look's (confidence
    1 - alpha_look / pairs), the one the decisions read.
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
            "active": list(look.active), "settled": list(look.settled), "finished": look.finished,
            "statement": look.statement})
    info = {"first_seeds": first, "max_seeds": max_seeds, "max_looks": max_seeds - first + 1, "alpha": alpha,
            "spending": spending, "goal": "ranking", "tolerance": tolerance, "metric": metric.name,
            "direction": metric.direction, "scale": scale, "unit": unit, "labels": list(state.labels),
            "seeds_used": dict(state.seeds_used), "looks": looks,
            "next_round": [list(n) for n in state.need], "stopped": outcome_reason}
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2, default=float) + "\n")


def run_race(study, out_dir, *, max_seeds: int = MAX_SEEDS, budget: Optional[float] = None, workers=1,
             executor=None, quiet: bool = False, command: str = "", task=None, alpha: float = 0.05,
             spending: str = "pocock", tolerance: float = 0.0, clock: Callable[[], float] = time.monotonic):
    """Race ``study`` into ``out_dir``: its ``seeds`` first, then one seed per look where the ranking is open.

    Args:
        study: the :class:`~actlab.compare.sweep.Study`; ``study.seeds`` seeds per activation at look 1.
        out_dir: the study folder (resumed when it holds this study).
        max_seeds: the most seeds any activation receives (fixes the spending schedule).
        budget: seconds this invocation may take; a round the remaining time clearly cannot finish
            (estimated from the stored epoch times) is not started.
        workers, executor, quiet, command, task: as for :func:`~actlab.compare.runner.run_study`.
        alpha, spending: family-wise error rate over all pairs and looks; the Lan-DeMets spending function.
        tolerance: the indifference zone D in the metric's own units (0.003 for 0.3 accuracy points; the
            CLI's ``--tolerance`` is in points); 0 (default): no pair is decided equivalent.

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
    with open_study(out, study, study.study_id(), study.config(), command, executor, workers,
                    quiet=quiet) as (store, executor, splits):
        store.add_runs(study.runs())
        write_config_json(out / "config.json", study, store, splits, workers, backend_name(executor))
        reason, estimate = None, None
        while True:
            state = replay(store, labels, first, max_looks, alpha=alpha, spending=spending, tolerance=tolerance,
                           metric=metric)
            write_race_json(out / "race.json", state, None, first=first, max_seeds=max_seeds, alpha=alpha,
                            spending=spending, tolerance=tolerance, metric=metric)
            if not state.need:
                last = state.last
                reason = "decided" if last is not None and not last.open else "max_seeds"
                break
            if budget is not None:
                estimate = round_seconds(store, state.need, study.epochs, workers)
                if clock() - start + (estimate or 0.0) > budget and (state.looks or estimate is not None):
                    reason = "budget"
                    break
            _add_seed_runs(store, study, state.need)
            before = _epoch_count(store)
            runs_trained += scaleout.execute(study, store, executor, task=task, quiet=quiet,
                                             backend=backend_name(executor))
            epochs_trained += _epoch_count(store) - before
        write_race_json(out / "race.json", state, reason, first=first, max_seeds=max_seeds, alpha=alpha,
                        spending=spending, tolerance=tolerance, metric=metric)
        summary = write_outputs(store, out)
        scaleout.write_stopped_csv(store, out / "stopped.csv")
    outcome = RaceOutcome(state, reason, max_seeds, first, runs_trained, epochs_trained, budget,
                          clock() - start, estimate if reason == "budget" else None)
    return summary, outcome


def _add_seed_runs(store, study, need) -> None:
    """Register the runs of ``need`` not in the store yet (same settings as the study's, another seed)."""
    top = max(s for _, s in need) + 1
    wanted = set(need)
    store.add_runs(r for r in replace(study, seeds=max(top, study.seeds)).runs()
                   if (describe(r), r["seed"]) in wanted)


def _epoch_count(store) -> int:
    return len(store.epochs())


__all__ = ["FIRST_SEEDS", "MAX_SEEDS", "RaceOutcome", "RaceState", "check_max_seeds", "parse_budget",
           "race_state", "race_values", "replay", "round_seconds", "run_race", "write_race_json"]
