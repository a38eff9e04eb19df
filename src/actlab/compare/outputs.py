"""Everything a study shows, computed from its results store alone: summary.csv, history.csv, plots, the ranking.

Protocol: for each finished run the best epoch is the one with the lowest
validation loss (earliest on ties); the run's final test accuracy and loss
are its test numbers at that epoch. The test set plays no part in any choice.
"""
from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..store import Store
from . import stats
from .sweep import describe

SUMMARY_COLUMNS = (
    "rank", "label", "activation", "grid", "n_runs", "n_planned", "n_diverged",
    "test_acc_mean", "test_acc_std", "test_acc_ci_low", "test_acc_ci_high",
    "test_loss_mean", "test_loss_std", "test_loss_ci_low", "test_loss_ci_high",
    "best_epoch_mean", "best_epochs", "seconds_per_epoch", "samples_per_second",
    "p_vs_best", "p_holm", "cohens_d", "significant", "verdict",
)
HISTORY_COLUMNS = (
    "label", "activation", "grid", "seed", "run_id", "epoch",
    "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
    "seconds", "elapsed_seconds", "samples",
)


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


def run_results(store: Store) -> list[RunResult]:
    """One result per finished run, in run order."""
    by_run: dict[int, list[dict]] = {}
    for row in store.epochs():
        if row["status"] == "done":
            by_run.setdefault(row["run_id"], []).append(row)
    out = []
    for rows in by_run.values():
        best, last = best_epoch(rows), rows[-1]
        seconds = sum(_nan(r["seconds"]) for r in rows)
        out.append(RunResult(
            label=describe(last), activation=last["activation"], grid=last["grid"], seed=last["seed"],
            best_epoch=best["epoch"], test_acc=_nan(best["test_acc"]), test_loss=_nan(best["test_loss"]),
            seconds_per_epoch=seconds / len(rows),
            samples_per_second=_nan(last["samples"]) / seconds if seconds > 0 else math.nan,
            diverged=bool(last["diverged"])))
    return out


@dataclass
class Summary:
    rows: list[dict]  # SUMMARY_COLUMNS, in rank order
    ranking: stats.Ranking
    results: list[RunResult]


def summarize(store: Store, alpha: float = 0.05) -> Summary:
    """Per-group statistics over seeds and the ranking by final test accuracy."""
    results = run_results(store)
    planned: dict[str, int] = {}
    groups: dict[str, list[RunResult]] = {}
    for run in store.runs():
        planned[describe(run)] = planned.get(describe(run), 0) + 1
    for r in results:
        groups.setdefault(r.label, []).append(r)
    ranking = stats.rank({k: [r.test_acc for r in v] for k, v in groups.items()}, alpha=alpha)
    for label, runs in groups.items():
        diverged = sum(r.diverged for r in runs)
        if diverged:
            ranking.warnings.append(f"{label}: {diverged} of {len(runs)} runs diverged (loss became NaN or "
                                    "infinite) and stopped early; their final numbers come from their best "
                                    "validation epoch, a diverged epoch counting as worst")
    rows = []
    for ranked in ranking.rows:
        runs = groups[ranked.label]
        loss = stats.summarize([r.test_loss for r in runs])
        acc = ranked.summary
        rows.append({
            "rank": ranked.rank, "label": ranked.label, "activation": runs[0].activation,
            "grid": ";".join(f"{k}={v}" for k, v in sorted(runs[0].grid.items())),
            "n_runs": len(runs), "n_planned": planned[ranked.label],
            "n_diverged": sum(r.diverged for r in runs),
            "test_acc_mean": acc.mean, "test_acc_std": acc.std, "test_acc_ci_low": acc.ci_low,
            "test_acc_ci_high": acc.ci_high,
            "test_loss_mean": loss.mean, "test_loss_std": loss.std, "test_loss_ci_low": loss.ci_low,
            "test_loss_ci_high": loss.ci_high,
            "best_epoch_mean": sum(r.best_epoch for r in runs) / len(runs),
            "best_epochs": ";".join(str(r.best_epoch) for r in runs),
            "seconds_per_epoch": sum(r.seconds_per_epoch for r in runs) / len(runs),
            "samples_per_second": sum(r.samples_per_second for r in runs) / len(runs),
            "p_vs_best": ranked.p, "p_holm": ranked.p_holm, "cohens_d": ranked.d,
            "significant": "" if math.isnan(ranked.p_holm) else ranked.significant,
            "verdict": ranked.verdict,
        })
    return Summary(rows, ranking, results)


def _cell(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def write_summary_csv(summary: Summary, path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SUMMARY_COLUMNS)
        for row in summary.rows:
            w.writerow([_cell(row[c]) for c in SUMMARY_COLUMNS])


def history_rows(store: Store) -> list[dict]:
    """One row per run x epoch, with the cumulative training time of the run."""
    out, elapsed, current = [], 0.0, None
    for row in store.epochs():
        if row["run_id"] != current:
            current, elapsed = row["run_id"], 0.0
        elapsed += _nan(row["seconds"])
        out.append({**row, "label": describe(row), "elapsed_seconds": elapsed,
                    "grid": ";".join(f"{k}={v}" for k, v in sorted(row["grid"].items()))})
    return out


def write_history_csv(rows: list[dict], path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HISTORY_COLUMNS)
        for row in rows:
            w.writerow(["" if row[c] is None else _cell(row[c]) for c in HISTORY_COLUMNS])


def _fmt(value: float, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def chance_warnings(rows, chance: float = 0.1) -> list[str]:
    """One line per activation whose mean test accuracy stayed near chance (1 / classes; every dataset
    actlab loads has 10 classes). A real outcome, e.g. sigmoid still on its initial plateau after a short
    budget, but one a reader must not mistake for a measured ability."""
    return [f"{r['label']} stayed at chance level (test accuracy {r['test_acc_mean']:.3g}, chance {chance:.3g}): "
            "it did not learn with these settings (more epochs, data or another learning rate may change that)"
            for r in rows if r["test_acc_mean"] <= chance * 1.2]


def format_ranking(summary: Summary) -> str:
    """The ranking as a text table, with the protocol and every warning spelled out."""
    header = ("rank", "activation", "n", "test acc mean ± sd", "95% CI", "test loss", "best ep", "s/epoch",
              "vs best")
    lines = []
    for r in summary.rows:
        ci = f"[{_fmt(r['test_acc_ci_low'])}, {_fmt(r['test_acc_ci_high'])}]"
        verdict = r["verdict"] + ("" if math.isnan(r["cohens_d"]) else f", d={r['cohens_d']:.2f}")
        n = str(r["n_runs"]) + ("" if r["n_runs"] == r["n_planned"] else f"/{r['n_planned']}")
        lines.append((str(r["rank"]), r["label"], n, f"{_fmt(r['test_acc_mean'])} ± {_fmt(r['test_acc_std'])}",
                      ci, _fmt(r["test_loss_mean"]), f"{r['best_epoch_mean']:.1f}", _fmt(r["seconds_per_epoch"], 2),
                      verdict))
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *lines]]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.append("")
    text.append("Final test accuracy = test accuracy at each run's lowest-validation-loss epoch. "
                f"Each activation is tested against the best by Welch's t-test over seeds, Holm-corrected, "
                f"alpha={summary.ranking.alpha}; d = Cohen's d (positive: the best is better).")
    text.extend(f"warning: {w}" for w in summary.ranking.warnings + chance_warnings(summary.rows))
    return "\n".join(text)


def write_outputs(store: Store, out_dir, *, plot_split: str = "val") -> Summary:
    """Write summary.csv, history.csv, accuracy.png and loss.png into ``out_dir``; return the summary."""
    from ..plots.curves import plot_curves

    out_dir = Path(out_dir)
    summary = summarize(store)
    write_summary_csv(summary, out_dir / "summary.csv")
    history = history_rows(store)
    write_history_csv(history, out_dir / "history.csv")
    order = [r["label"] for r in summary.rows]
    plot_curves(history, "acc", plot_split, out_dir / "accuracy.png", order=order)
    plot_curves(history, "loss", plot_split, out_dir / "loss.png", order=order)
    return summary



def cpu_model() -> str:
    """The processor's marketing name (Linux /proc/cpuinfo), else what platform reports."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_config_json(path, study, stored: dict, command: str, splits, workers: int) -> None:
    """config.json: the exact command, every setting, the data actually used, and the software versions."""
    import json
    import platform
    import sys

    import torch

    from .. import __version__

    info = {
        "command": command,
        "study_command": stored["command"],
        "study_id": stored["study_id"],
        "created": stored["created"],
        "config": study.config(),
        "data": {"dataset": study.dataset, "data_dir": study.data_dir, "train": len(splits.train_y),
                 "val": len(splits.val_y), "test": len(splits.test_y), "classes": list(splits.classes)},
        "workers": workers,
        "versions": {"actlab": __version__, "torch": torch.__version__, "python": sys.version.split()[0],
                     "platform": platform.platform()},
        "environment": {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
    }
    Path(path).write_text(json.dumps(info, indent=2) + "\n")
