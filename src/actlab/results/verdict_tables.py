"""The verdict as table rows: the new columns of summary.csv, and pairs.csv (one row per pair of activations).

The numbers come from :func:`actlab.results.verdict.analyse` run on a
study's finished runs (methods: docs/statistics.md). Differences are written
in accuracy points (``100 * difference``), the unit the verdict sentence uses;
for another metric (:mod:`.metric`: bits per character, RMSE) they are plain
differences in its own units, and the columns below are renamed for it
(:meth:`~actlab.results.metric.Metric.rename`: ``test_bpc_mean``,
``bpc_ci_low``, ``diff_vs_best_bpc``, ``diff_bpc``, ...). Differences are
always ``a - b`` in the metric's units, so for a lower-is-better metric the
better side's difference is negative.

summary.csv gains, per activation (the best's row leaves the "vs best" cells empty):

- ``p_best``, ``rank_low``, ``rank_high``: probability of being the
  best, and the 95% interval of its rank (1 = best); empty below two
  finished runs, where resampling one seed cannot vary;
- ``acc_ci_low``, ``acc_ci_high``: a 95% interval of the mean test accuracy
  that stays inside [0, 1] (logit scale; for a metric without an upper bound,
  the t interval cut to the metric's range); ``test_acc_ci_low``/``_high``
  keep the plain t interval for readers written against it;
- ``design_vs_best`` (``paired`` / ``welch`` / ``none``), ``diff_vs_best_points``
  (best minus this one: positive means the best is better) with its 95% CI,
  ``hedges_g_vs_best`` with its CI, ``p_pair_vs_best`` (paired t or Welch),
  ``p_holm_pairs`` (Holm over all pairs) and ``separated_from_best``.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Optional

from .metric import ACCURACY, Metric
from .verdict import Verdict, analyse
from .verdict.pairs import PAIRED, WELCH, PairTest

VERDICT_COLUMNS = (
    "p_best", "rank_low", "rank_high", "acc_ci_low", "acc_ci_high", "design_vs_best", "diff_vs_best_points",
    "diff_vs_best_ci_low", "diff_vs_best_ci_high", "hedges_g_vs_best", "hedges_g_ci_low", "hedges_g_ci_high",
    "p_pair_vs_best", "p_holm_pairs", "separated_from_best",
)
PAIRS_COLUMNS = (
    "better", "worse", "design", "n_seeds", "n_better", "n_worse", "diff_points", "ci_low_points",
    "ci_high_points", "familywise_ci_low_points", "familywise_ci_high_points", "t", "df", "p_paired_t",
    "p_wilcoxon", "p_welch", "p_mannwhitney", "p_holm", "separated", "hedges_g", "hedges_g_ci_low",
    "hedges_g_ci_high", "detectable_points", "seeds_needed",
)
NAN = math.nan


def summary_columns(columns: Iterable[str], metric: Metric = ACCURACY) -> tuple:
    """``columns`` (named for accuracy) renamed for ``metric`` (unchanged for accuracy)."""
    return tuple(metric.rename(c) for c in columns)


def renamed(row: Mapping, metric: Metric = ACCURACY) -> dict:
    """One table row (keys named for accuracy) with its keys renamed for ``metric``."""
    return dict(row) if metric.short == "acc" and metric.percent else {metric.rename(k): v for k, v in row.items()}


def study_verdict(results: Iterable, runs: Iterable[Mapping], alpha: float = 0.05,
                  metric: Metric = ACCURACY) -> Optional[Verdict]:
    """The verdict on a study's finished runs; None when no run finished.

    Args:
        results: the finished runs (:class:`~actlab.results.summary.RunResult`: label, seed, test_acc, diverged).
        runs: every planned run (``label``, ``seed``, ``status``), so stopped and unfinished runs are counted.
        alpha: the family-wise error rate over all pairs.
        metric: what the values are (direction, range, the unit differences are written in).
    """
    values: dict[str, dict[int, float]] = {}
    status: dict[str, dict[int, str]] = {}
    for r in results:
        values.setdefault(r.label, {})[r.seed] = r.test_acc
        status.setdefault(r.label, {})[r.seed] = "diverged" if r.diverged else "done"
    if not values:
        return None
    for run in runs:
        if run["label"] in values and run["seed"] not in status[run["label"]]:
            status[run["label"]][run["seed"]] = run["status"]
    return analyse(values, status, alpha=alpha, higher_is_better=metric.higher_is_better, bounds=metric.bounds,
                   scale=metric.scale, unit=metric.unit)


def _pair(verdict: Verdict, a: str, b: str) -> Optional[PairTest]:
    """The comparison oriented as ``a`` minus ``b``."""
    for r in verdict.pairs:
        if (r.a, r.b) == (a, b):
            return r
        if (r.a, r.b) == (b, a):
            return r.flipped()
    return None


def verdict_cells(verdict: Optional[Verdict], label: str, best: str) -> dict:
    """The :data:`VERDICT_COLUMNS` of one activation's summary row, compared with ``best`` (rank 1)."""
    cells = {c: NAN for c in VERDICT_COLUMNS}
    cells.update(design_vs_best="", separated_from_best="", rank_low="", rank_high="")
    if verdict is None:
        return cells
    if label in verdict.best and verdict.samples[label].n >= 2:  # one seed: no spread, P(best) cannot vary
        b = verdict.best[label]
        cells.update(p_best=b.p_best, rank_low=b.rank_low, rank_high=b.rank_high)
    if label in verdict.means:
        cells.update(acc_ci_low=verdict.means[label][1], acc_ci_high=verdict.means[label][2])
    r = _pair(verdict, best, label) if label != best else None
    if r is not None:
        k = verdict.scale
        cells.update(design_vs_best=r.design, diff_vs_best_points=k * r.diff,
                     diff_vs_best_ci_low=k * r.ci_low, diff_vs_best_ci_high=k * r.ci_high,
                     hedges_g_vs_best=r.g, hedges_g_ci_low=r.g_low, hedges_g_ci_high=r.g_high,
                     p_pair_vs_best=r.p, p_holm_pairs=r.p_holm,
                     separated_from_best="" if math.isnan(r.p_holm) else _yes(r.separated(verdict.alpha)))
    return cells


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def pair_rows(verdict: Optional[Verdict]) -> list[dict]:
    """One :data:`PAIRS_COLUMNS` row per pair, better first (as the verdict orders them).

    ``familywise_ci_*`` are the Bonferroni simultaneous intervals (all pairs
    together at 1 - alpha); ``ci_*`` each pair's own 95% interval. Only the p
    columns of the pair's design are filled (paired: paired t and Wilcoxon;
    welch: Welch and Mann-Whitney). ``detectable_points`` and ``seeds_needed``
    (per activation, 80% power at the Bonferroni level) are filled for pairs
    not separated.
    """
    if verdict is None:
        return []
    rows, k = [], verdict.scale
    for r in verdict.pairs:
        power = verdict.power.get((r.a, r.b))
        paired, welch = r.design == PAIRED, r.design == WELCH
        rows.append({
            "better": r.a, "worse": r.b, "design": r.design, "n_seeds": len(r.seeds) if paired else "",
            "n_better": r.n_a, "n_worse": r.n_b, "diff_points": k * r.diff, "ci_low_points": k * r.ci_low,
            "ci_high_points": k * r.ci_high, "familywise_ci_low_points": k * r.sim_low,
            "familywise_ci_high_points": k * r.sim_high, "t": r.t, "df": r.df,
            "p_paired_t": r.p if paired else NAN, "p_wilcoxon": r.p_rank if paired else NAN,
            "p_welch": r.p if welch else NAN, "p_mannwhitney": r.p_rank if welch else NAN,
            "p_holm": r.p_holm, "separated": "" if math.isnan(r.p_holm) else _yes(r.separated(verdict.alpha)),
            "hedges_g": r.g, "hedges_g_ci_low": r.g_low, "hedges_g_ci_high": r.g_high,
            "detectable_points": k * power.detectable if power else NAN,
            "seeds_needed": power.seeds_needed if power and power.seeds_needed else "",
        })
    return rows
