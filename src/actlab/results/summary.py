"""The numbers a study shows, computed from its stored runs and epochs: the ranking and the history.

Protocol: for each finished run the best epoch is the one with the lowest
validation loss (earliest on ties); the run's final test accuracy and loss
are its test numbers at that epoch. The test set plays no part in any choice.

The metric is the study's (:func:`.metric.metric_of` on its configuration):
accuracy for classification, else e.g. bits per character (lower is better).
The ranking follows its direction, and summary.csv's and pairs.csv's metric
columns are named for it (``test_acc_mean`` for accuracy, ``test_bpc_mean``
for bits per character; :meth:`Summary.col` maps an accuracy name to the
study's). ``RunResult.test_acc`` holds the metric whatever it is, as the
epochs table's ``*_acc`` columns do.

Failures are results: a run that diverged (its loss became NaN or infinite)
is counted in its activation's divergence rate and named in its verdict, but
never scored as a trained network: it enters no mean, interval or test.
Runs that early stopping ended are listed apart (stopped.csv), never ranked.

Beside the ranking, every pair of activations is compared (paired over
common seeds where possible, Holm over all pairs), with P(best), rank
intervals and power: the verdict (:mod:`.verdict_tables`, pairs.csv). A study
with a grid of two or more points (``--depth 4,16``, ``--grid lr=...``) is
one such comparison per grid point: ranks, "vs best", pairs, Holm and P(best)
never cross grid points (:func:`combine`).

summary.csv, pairs.csv, history.csv, the report and :func:`actlab.load` all
read these functions; nothing else computes a ranking.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

from ..store import atomic_write
from . import stats
from .metric import ACCURACY, Metric, metric_of
from .verdict import Verdict, combine_verdicts
from .verdict_tables import (PAIRS_COLUMNS, VERDICT_COLUMNS, pair_rows, renamed, study_verdict, summary_columns,
                             verdict_cells)

SUMMARY_COLUMNS = (
    "rank", "label", "activation", "grid", "n_runs", "n_planned", "n_diverged", "divergence_rate",
    "test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high",
    "test_loss_mean", "test_loss_std", "test_loss_ci_low", "test_loss_ci_high",
    "best_epoch_mean", "best_epochs", "seconds_per_epoch", "samples_per_second",
    "p_vs_best", "p_holm", "cohens_d", "significant", "verdict",
    *VERDICT_COLUMNS,  # the all-pairs verdict: P(best), rank interval, paired difference vs the best, ...
)
HISTORY_COLUMNS = (
    "label", "activation", "grid", "seed", "run_id", "epoch",
    "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "seconds", "elapsed_seconds", "samples",
)


def describe(run: Mapping) -> str:
    """Label of a run's group: the activation, plus its grid point if any ('relu [lr=0.001]')."""
    grid = run.get("grid") or {}
    return run["activation"] + (" [" + ", ".join(f"{k}={v}" for k, v in sorted(grid.items())) + "]" if grid else "")


def grid_text(grid: Mapping) -> str:
    """A grid point as one CSV cell: 'lr=0.001;width=64' ('' without a grid)."""
    return ";".join(f"{k}={v}" for k, v in sorted(grid.items()))


@dataclass
class RunResult:
    """The final numbers of one finished run."""

    label: str
    activation: str
    grid: dict
    seed: int
    best_epoch: int
    test_acc: float
    test_loss: float
    seconds_per_epoch: float
    samples_per_second: float
    diverged: bool


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def best_epoch(rows: list[dict]) -> dict:
    """The epoch row with the lowest validation loss; NaN losses count as worst, ties go to the earliest."""
    return min(rows, key=lambda r: (r["val_loss"] is None, _nan(r["val_loss"]), r["epoch"]))


def run_results(epochs: list[dict]) -> list[RunResult]:
    """One result per finished run (done or diverged), in run order; a diverged run's numbers are NaN.

    Args:
        epochs: the store's epoch rows (``Store.epochs()``: each with its run's activation, seed, grid, status).
    """
    by_run: dict[int, list[dict]] = {}
    for row in epochs:
        if row["status"] in ("done", "diverged"):
            by_run.setdefault(row["run_id"], []).append(row)
    out = []
    for rows in by_run.values():
        best, last = best_epoch(rows), rows[-1]
        seconds = sum(_nan(r["seconds"]) for r in rows)
        diverged = last["status"] == "diverged"
        out.append(RunResult(
            label=describe(last), activation=last["activation"], grid=last["grid"], seed=last["seed"],
            best_epoch=best["epoch"],
            # A network whose training diverged was never trained: it has no test numbers to average.
            test_acc=math.nan if diverged else _nan(best["test_acc"]),
            test_loss=math.nan if diverged else _nan(best["test_loss"]),
            seconds_per_epoch=seconds / len(rows),
            samples_per_second=_nan(last["samples"]) / seconds if seconds > 0 else math.nan,
            diverged=diverged))
    return out


@dataclass
class Summary:
    """The ranking of a study (``rows``: summary.csv), its all-pairs verdict and pairs.csv's ``pairs``.

    ``ranking`` holds the older per-activation tests against the best (Welch,
    Holm over those) that the first summary.csv columns keep; ``verdict`` is
    :func:`actlab.results.verdict.analyse` on the same finished runs (None
    before any run finished) and ``sentence`` its plain-language verdict.
    """

    rows: list[dict]  # SUMMARY_COLUMNS, in rank order
    ranking: stats.Ranking
    results: list[RunResult]
    verdict: Optional[Verdict] = None
    pairs: list[dict] = field(default_factory=list)  # PAIRS_COLUMNS, one per pair of activations
    metric: Metric = ACCURACY  # what the rows' metric columns hold, and which way is better
    grids: list[str] = field(default_factory=list)  # the grid points, each its own comparison ([] without a grid)

    def col(self, name: str) -> str:
        """The study's name of a column named for accuracy: col('test_acc_mean') -> 'test_bpc_mean'."""
        return self.metric.rename(name)

    @property
    def columns(self) -> tuple:
        """summary.csv's columns for this study's metric (:data:`SUMMARY_COLUMNS` for accuracy)."""
        return summary_columns(SUMMARY_COLUMNS, self.metric)

    @property
    def pair_columns(self) -> tuple:
        """pairs.csv's columns for this study's metric (``PAIRS_COLUMNS`` for accuracy), led by ``grid`` (the
        grid point both sides belong to) when the study has a grid of two or more points."""
        return summary_columns((("grid",) if self.grids else ()) + PAIRS_COLUMNS, self.metric)

    @property
    def sentence(self) -> str:
        """The verdict in one plain paragraph ('' before any run finished)."""
        return self.verdict.sentence if self.verdict is not None else ""


def summarize(store, alpha: float = 0.05) -> Summary:
    """Per-group statistics over seeds and the ranking by the final test metric, read from an open ``Store``."""
    return summarize_rows(store.runs(), store.epochs(), alpha, metric_of((store.study() or {}).get("config") or {}))


def summarize_rows(runs: list[dict], epochs: list[dict], alpha: float = 0.05,
                   metric: Metric = ACCURACY) -> Summary:
    """:func:`summarize` over rows already read (``Store.runs()``, ``Store.epochs()``), ranked by ``metric``
    (the study's: :func:`~actlab.results.metric.metric_of` of its configuration).

    A study with a grid of two or more points is one comparison per grid point (the question is "which
    activation?", so ``relu [depth=4]`` is never tested against ``sigmoid [depth=64]``): each grid point
    is ranked, tested (Holm within it) and given P(best) on its own, and the parts are combined
    (:func:`combine`). A study without a grid, or with one grid point, is one family, as before.
    """
    results = run_results(epochs)
    points = grid_points(runs, results)
    if len(points) < 2:
        return _family(runs, results, alpha, metric)
    families = [(point, _family([r for r in runs if grid_text(r.get("grid") or {}) == point],
                                [r for r in results if grid_text(r.grid) == point], alpha, metric))
                for point in points]
    return combine(families, results, alpha, metric, points)


def combine(families: list, results: list[RunResult], alpha: float, metric: Metric, points: list[str]) -> Summary:
    """One summary of a study with a grid from each grid point's own (``families``: ``[(point, Summary)]`` in
    grid order): rows grouped by grid point (``rank`` within it, "vs best" against its best), pairs only
    within a grid point (``grid`` added), and one verdict whose sentence has a paragraph per grid point
    (:func:`~actlab.results.verdict.combine_verdicts`). Labels carry their grid point, so they stay unique."""
    rows = [row for _, f in families for row in f.rows]
    ranking = stats.Ranking([r for _, f in families for r in f.ranking.rows], alpha,
                            [w for _, f in families for w in f.ranking.warnings])
    verdicts = [(point.replace(";", ", "), f.verdict) for point, f in families if f.verdict is not None]
    verdict = combine_verdicts(verdicts) if verdicts else None
    if verdict is not None and len(verdicts) < len(families):  # a grid point still without a finished run
        paragraphs = iter(verdict.sentence.split("\n\n"))
        verdict = replace(verdict, sentence="\n\n".join(
            next(paragraphs) if f.verdict is not None else
            f"At {point.replace(';', ', ')}: no activation finished a run yet." for point, f in families))
    pairs = [{"grid": point, **pair} for point, f in families for pair in f.pairs]
    return Summary(rows, ranking, results, verdict, pairs, metric, grids=list(points))


def grid_points(runs: list[dict], results: list = ()) -> list[str]:
    """The study's grid points (:func:`grid_text`), in the order the study registered them (its grid order:
    ``depth=4`` before ``depth=16`` as ``--depth 4,16`` gave them); ``['']`` without a grid."""
    return list(dict.fromkeys([grid_text(r.get("grid") or {}) for r in runs] + [grid_text(r.grid) for r in results]))


def _family(runs: list[dict], results: list[RunResult], alpha: float, metric: Metric) -> Summary:
    """The ranking and verdict of one family of labels (a whole study without a grid, or one grid point)."""
    planned: dict[str, int] = {}
    groups: dict[str, list[RunResult]] = {}
    for run in runs:
        planned[describe(run)] = planned.get(describe(run), 0) + 1
    for r in results:
        groups.setdefault(r.label, []).append(r)
    ranking = stats.rank({k: [r.test_acc for r in v if not r.diverged] for k, v in groups.items()},
                         higher_is_better=metric.higher_is_better, alpha=alpha)
    for label, group in groups.items():
        diverged = sum(r.diverged for r in group)
        if diverged:
            ranking.warnings.append(f"{label}: {diverged} of {len(group)} runs diverged (the loss became NaN or "
                                    "infinite and training stopped); they count in its divergence rate and "
                                    "enter no mean, interval or test")
    verdict_of_study = study_verdict(results, [{**run, "label": describe(run)} for run in runs], alpha, metric)
    best = ranking.rows[0].label if ranking.rows else ""
    rows = []
    for ranked in ranking.rows:
        group = groups[ranked.label]
        diverged = sum(r.diverged for r in group)
        loss = stats.summarize([r.test_loss for r in group if not r.diverged])
        verdict = ranked.verdict if diverged < len(group) else "not ranked: every run diverged"
        if diverged and diverged < len(group):
            verdict += f"; diverged in {diverged} of {len(group)} runs"
        acc = ranked.summary
        rows.append(renamed({
            "rank": ranked.rank, "label": ranked.label, "activation": group[0].activation,
            "grid": grid_text(group[0].grid),
            "n_runs": len(group), "n_planned": planned[ranked.label],
            "n_diverged": diverged, "divergence_rate": diverged / len(group),
            "test_acc_mean": acc.mean, "test_acc_std": acc.std, "test_acc_ci_low": acc.ci_low,
            "test_acc_ci_high": acc.ci_high,
            "test_loss_mean": loss.mean, "test_loss_std": loss.std, "test_loss_ci_low": loss.ci_low,
            "test_loss_ci_high": loss.ci_high,
            "best_epoch_mean": sum(r.best_epoch for r in group) / len(group),  # the diverged too: when it broke
            "best_epochs": ";".join(str(r.best_epoch) for r in group),
            "seconds_per_epoch": sum(r.seconds_per_epoch for r in group) / len(group),
            "samples_per_second": sum(r.samples_per_second for r in group) / len(group),
            "p_vs_best": ranked.p, "p_holm": ranked.p_holm, "cohens_d": ranked.d,
            "significant": "" if math.isnan(ranked.p_holm) else ranked.significant,
            "verdict": verdict,
            **verdict_cells(verdict_of_study, ranked.label, best),
        }, metric))
    pairs = [renamed(p, metric) for p in pair_rows(verdict_of_study)]
    return Summary(rows, ranking, results, verdict_of_study, pairs, metric)


def history_rows(epochs: list[dict]) -> list[dict]:
    """One row per run x epoch, with the cumulative training time of the run.

    Args:
        epochs: the store's epoch rows (``Store.epochs()``).
    """
    out, elapsed, current = [], 0.0, None
    for row in epochs:
        if row["run_id"] != current:
            current, elapsed = row["run_id"], 0.0
        elapsed += _nan(row["seconds"])
        out.append({**row, "label": describe(row), "elapsed_seconds": elapsed, "grid": grid_text(row["grid"])})
    return out


def chance_warnings(rows, chance: float = 0.1, metric: Metric = ACCURACY) -> list[str]:
    """One line per activation whose mean test accuracy stayed near chance (1 / classes; every dataset
    actlab loads has 10 classes). A real outcome, e.g. sigmoid still on its initial plateau after a short
    budget, but one a reader must not mistake for a measured ability. Only accuracy has a chance level:
    none for another ``metric``."""
    if metric.name != "accuracy" or not metric.higher_is_better:
        return []
    return [f"{r['label']} stayed at chance level (test accuracy {r['test_acc_mean']:.3g}, chance {chance:.3g}): "
            "it did not learn with these settings (more epochs, data or another learning rate may change that)"
            for r in rows if r["test_acc_mean"] <= chance * 1.2]


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value))  # numpy floats repr as 'np.float64(...)'
    return value


def write_csv(path, columns, rows) -> None:
    """``rows`` (dicts) as a CSV file with ``columns``, written atomically; floats exact (``repr``), NaN and
    None empty."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for row in rows:
            w.writerow([_cell(row[c]) for c in columns])
