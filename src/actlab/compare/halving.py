"""Synchronous successive halving: decide a rung of early stopping over the whole rung, from the store alone.

The execution loop (:func:`actlab.compare.runner.execute`) trains every live
run of a study to rung epoch ``r`` (one round, ``until=r``), then
:func:`decide_rung` ranks the configurations that reached the rung and stops
all but the best ``max(1, n // eta)`` (:func:`actlab.results.verdict.halving_stops`;
Jamieson & Talwalkar 2016). Which run reached the rung first plays no part,
so in-process, a process pool and Ray stop the same configurations.

Score of a configuration (one activation x grid point, all its seeds): the
mean validation metric at epoch ``r`` over its seeds (the study's metric,
:func:`actlab.results.metric.metric_of`: accuracy, where the best are the
highest; bits per character or RMSE, where the best are the lowest and the
highest are stopped). A seed that diverged at or before ``r`` has no value
there, and its configuration scores worst (a network that blew up is not a
contender). Ties are broken by the
configuration's key, in sorted order. The test set plays no part.

Who takes part in rung ``r``: every configuration with ``r`` among its rungs
that was not stopped at an earlier rung and has a seed that had not diverged
before epoch ``r``. Everything this needs is in the
store (stored epochs, stopped runs), so a study killed anywhere (even
between storing a rung's last epoch and storing its stops) decides the same
rung the same way when resumed: nothing is replayed.
"""
from __future__ import annotations

import math
from typing import Optional

from ..results.metric import Metric, metric_of
from ..results.verdict import halving_stops
from .asha import Asha, config_key


def rung_epochs(runs, rule: Asha) -> tuple:
    """Every rung epoch of the study's configurations, ascending."""
    return tuple(sorted({r for run in runs for r in rule.rungs(int(run["epochs"]))}))


def rung_scores(store, rule: Asha, rung: int) -> dict:
    """config key -> (score at ``rung``, run ids) for every configuration taking part in ``rung``.

    Raises RuntimeError if a live run of a taking-part configuration has not reached the rung (the
    loop decides a rung only after the round that trains every live run to it).
    """
    stopped = store.stopped_runs()
    groups: dict[str, list[dict]] = {}
    for run in store.runs():
        if rung in rule.rungs(int(run["epochs"])):
            groups.setdefault(config_key(run["config"]), []).append(run)
    val_acc: dict[int, dict[int, Optional[float]]] = {}
    diverged_at: dict[int, int] = {}
    for row in store.epochs():
        val_acc.setdefault(row["run_id"], {})[row["epoch"]] = row["val_acc"]
        if row["diverged"]:
            diverged_at[row["run_id"]] = row["epoch"]
    out = {}
    for key, group in groups.items():
        if any(run["run_id"] in stopped and stopped[run["run_id"]]["epoch"] < rung for run in group):
            continue  # stopped at an earlier rung: out of the race
        if all(diverged_at.get(run["run_id"], rung) < rung for run in group):
            continue  # every seed diverged before this rung: nothing of it is left to rank
        values = []
        for run in group:
            run_id = run["run_id"]
            if run_id in diverged_at and diverged_at[run_id] <= rung:
                values.append(math.nan)
            elif rung in val_acc.get(run_id, {}):
                value = val_acc[run_id][rung]
                values.append(math.nan if value is None else float(value))
            else:
                raise RuntimeError(f"run {run_id} ({run['activation']}, seed {run['seed']}) has not reached rung "
                                   f"epoch {rung}; a rung is decided only after every live run reached it")
        out[key] = (sum(values) / len(values), tuple(run["run_id"] for run in group))
    return out


def study_metric(store) -> Metric:
    """The metric the store's study ranks by (accuracy when the configuration names none)."""
    return metric_of((store.study() or {}).get("config") or {})


def decide_rung(store, rule: Asha, rung: int) -> list[int]:
    """Stop the runs of every configuration that is not among the rung's best; returns the run ids stopped now.

    Idempotent: deciding a rung again (after a kill) finds the same configurations and stops only those of
    their runs that are still unfinished (a run that diverged keeps its status).
    """
    scores = rung_scores(store, rule, rung)
    if not scores:
        return []
    metric = study_metric(store)
    losers = halving_stops({k: s for k, (s, _) in scores.items()}, eta=rule.eta,
                           higher_is_better=metric.higher_is_better)
    keep = rule.keep(len(scores))
    kept = [s for k, (s, _) in scores.items() if k not in losers]
    # the worst value still kept: the lowest accuracy, the highest bits per character
    cutoff = min((s for s in kept if not math.isnan(s)), default=math.nan, key=metric.oriented)
    unfinished = {r["run_id"] for r in store.runs() if r["status"] in ("pending", "running")}
    stopped_now = []
    for key in losers:
        score, run_ids = scores[key]
        live = tuple(i for i in run_ids if i in unfinished)
        if not live:
            continue
        shown = "diverged" if math.isnan(score) else f"{score:.4f}"
        reason = (f"mean {metric.column('val')} {shown} after epoch {rung} is not among the best {keep} of "
                  f"{len(scores)} "
                  f"at this rung (cutoff {cutoff:.4f}, eta={rule.eta}; synchronous successive halving)")
        store.stop_runs(live, rung, None if math.isnan(score) else score, reason)
        stopped_now.extend(live)
    return stopped_now
