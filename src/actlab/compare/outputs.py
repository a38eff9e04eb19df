"""What ``actlab compare`` writes beside its store: summary.csv, pairs.csv, history.csv, the plots, config.json.

The numbers come from :mod:`actlab.results` (the ranking, the history, the
protocol and how failures count are documented there); this module only
formats and writes them. The names below are re-exported for code written
against ``actlab.compare.outputs``.
"""
from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

from ..results import Study
from ..results.summary import (HISTORY_COLUMNS, SUMMARY_COLUMNS, RunResult, Summary, best_epoch, chance_warnings,
                               history_rows, run_results, summarize)
from ..store import Store, atomic_write

__all__ = ["HISTORY_COLUMNS", "SUMMARY_COLUMNS", "RunResult", "Summary", "best_epoch", "chance_warnings",
           "format_ranking", "history_rows", "run_results", "summarize", "write_outputs"]


def _fmt(value: float, digits: int = 4) -> str:
    return "-" if value is None or value == "" or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.{digits}f}"


WIDTH = 96  # the printed ranking stays readable in a 100-column terminal
OPEN_PAIRS_SHOWN = 20  # more open pairs than this: the rest are in pairs.csv


def _table(header, lines) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *lines]]
    text.insert(1, "  ".join("-" * w for w in widths))
    return text


def _ranks(r: dict) -> str:
    """'2 (1-3)': the observed rank and its 95% interval (from the P(best) draws)."""
    if r["rank_low"] == "":
        return str(r["rank"])
    if r["rank_low"] == r["rank_high"] == r["rank"]:
        return str(r["rank"])
    ranks = str(r["rank_low"]) if r["rank_low"] == r["rank_high"] else f"{r['rank_low']}-{r['rank_high']}"
    return f"{r['rank']} ({ranks})"


def _diff(summary: Summary, value, sign: bool = False) -> str:
    """A difference as the printout writes it (already in the metric's unit: accuracy points, bpc, ...)."""
    if summary.metric.percent:
        return _fmt(value, 2) if not sign else f"{value:+.2f}"
    return summary.metric.format_diff(value, sign)


def _open_pairs(summary: Summary) -> list[str]:
    """The pairs the study could not separate, with what it would take (80% power, Bonferroni level)."""
    col = summary.col
    group = {g: i for i, g in enumerate(summary.grids)}  # a grid: its points in order, each ranked from 1
    place = {r["label"]: (group.get(r["grid"], 0), r["rank"]) for r in summary.rows}
    rows = sorted((p for p in summary.pairs if p["separated"] == "no"),
                  key=lambda p: (place.get(p["better"], 0), place.get(p["worse"], 0)))
    if not rows:
        return []
    lines = []
    for p in rows[:OPEN_PAIRS_SHOWN]:
        need = p["seeds_needed"]
        lines.append((f"{p['better']} vs {p['worse']}", _diff(summary, p[col("diff_points")], sign=True),
                      f"[{_diff(summary, p[col('familywise_ci_low_points')])}, "
                      f"{_diff(summary, p[col('familywise_ci_high_points')])}]",
                      _fmt(p["p_holm"], 3), _diff(summary, p[col("detectable_points")]),
                      str(need) if need != "" else "-"))
    unit = "accuracy points" if summary.metric.percent else summary.metric.unit
    text = ["", *textwrap.wrap(f"Open pairs (not separated; differences in {unit}, family-wise 95% intervals):",
                               WIDTH)]
    text += _table(("pair", "diff", "family-wise CI", "Holm p", "detectable", "seeds needed"), lines)
    if len(rows) > OPEN_PAIRS_SHOWN:
        text.append(f"... and {len(rows) - OPEN_PAIRS_SHOWN} more open pairs in pairs.csv")
    text += textwrap.wrap("detectable: the smallest difference these seeds detect at 80% power; seeds needed: "
                          "per activation, to separate the observed difference at 80% power (estimates from the "
                          "observed spread, at the Bonferroni level).", WIDTH)
    return text


def format_ranking(summary: Summary) -> str:
    """The ranking as text: the verdict first (mean with a 95% interval inside the metric's range, P(best), the
    95% rank interval, the verdict sentence), then the open pairs with their power, the protocol and every
    warning. Accuracy is written as before (0.9812); another metric by ``metric.format`` with its short name as
    the column head ('bpc')."""
    m, col = summary.metric, summary.col
    mean, low, high, diff = col("test_acc_mean"), col("acc_ci_low"), col("acc_ci_high"), col("diff_vs_best_points")
    value = _fmt if m.percent else (lambda v: "-" if v is None or v != v else m.format(v))
    header = ("rank (95%)", "activation", "n", m.short, "95% CI", "P(best)", "vs best")
    lines = []
    for r in summary.rows:
        n = str(r["n_runs"]) + ("" if r["n_runs"] == r["n_planned"] else f"/{r['n_planned']}")
        if r["n_diverged"]:
            n += f" ({r['n_diverged']} diverged)"
        if r["rank"] == 1:
            vs = "best"
        elif r["design_vs_best"] in ("", "none"):
            vs = "not testable" if r[mean] == r[mean] else "every run diverged"
        else:
            sep = " worse" if r["separated_from_best"] == "yes" else ""
            vs = f"{_diff(summary, -r[diff], sign=True)} p={r['p_holm_pairs']:.2g}{sep}"
        lines.append((_ranks(r), r["label"], n, value(r[mean]), f"[{value(r[low])}, {value(r[high])}]",
                      _fmt(r["p_best"], 2), vs))
    text = _table(header, lines)
    if summary.grids:  # one comparison per grid point: a heading line above each one's rows
        for i in reversed(range(len(summary.rows))):
            point = summary.rows[i]["grid"]
            if i == 0 or point != summary.rows[i - 1]["grid"]:
                text.insert(2 + i, f"at {point.replace(';', ', ')}:")
    if summary.sentence:
        paragraphs = summary.sentence.split("\n\n")  # a grid: one paragraph per grid point
        text += ["", *textwrap.wrap("Verdict: " + paragraphs[0], WIDTH)]
        for paragraph in paragraphs[1:]:
            text += textwrap.wrap(paragraph, WIDTH)
    text += _open_pairs(summary)
    text.append("")
    text += textwrap.wrap(_protocol(summary), WIDTH)
    if summary.grids:
        text += textwrap.wrap("Each grid point is its own comparison: ranks, P(best), vs best, pairs and Holm's "
                              "correction are within it, never across grid points.", WIDTH)
    text.extend(f"warning: {w}" for w in summary.ranking.warnings + chance_warnings(summary.rows, metric=m))
    return "\n".join(text)


def _protocol(summary: Summary) -> str:
    """The footnote under the ranking: what the numbers are and how they were tested."""
    m = summary.metric
    if not m.percent:
        better = "higher" if m.higher_is_better else "lower"
        return (f"{m.short}: mean final test {m.label} ({better} is better; the test value at each run's "
                "lowest-validation-loss epoch); 95% CI of the mean (t interval, cut to the metric's range); P(best) "
                "and the 95% rank interval from a t posterior over seeds (paired). vs best: this one minus the best, in "
                f"{m.label}, and its Holm p; every pair is compared paired over common seeds (else Welch), "
                f"Holm-corrected over all pairs at alpha={summary.ranking.alpha} ('worse': separated). All "
                "numbers: summary.csv, pairs.csv; methods: docs/statistics.md.")
    return (
        "acc: mean final test accuracy (test accuracy at each run's lowest-validation-loss epoch); 95% CI of "
        "the mean on the logit scale (inside [0, 1]); P(best) and the 95% rank interval from a t posterior over "
        "seeds (paired). vs best: difference to the best in accuracy points and its Holm p; every pair is compared "
        "paired over common seeds (else Welch), Holm-corrected over all pairs at "
        f"alpha={summary.ranking.alpha} ('worse': separated). All numbers: summary.csv, pairs.csv; methods: "
        "docs/statistics.md.")


def write_outputs(store: Store, out_dir, *, plot_split: str = "val") -> Summary:
    """Write summary.csv, pairs.csv, history.csv, accuracy.png and loss.png into ``out_dir``; return the summary.

    All five come from one :class:`~actlab.results.Study` read of the store.
    """
    from ..plots.curves import plot_curves

    out_dir = Path(out_dir)
    study = Study.read(store, out_dir)
    study.write_tables(out_dir)
    order = [r["label"] for r in study.summary.rows]
    m = study.summary.metric
    # accuracy.png keeps its name whatever the metric (the *_acc columns hold it); its title names the metric.
    title = None if m.percent else (f"{'Validation' if plot_split == 'val' else plot_split.capitalize()} "
                                    f"{m.label} per epoch ({'higher' if m.higher_is_better else 'lower'} is "
                                    "better): line = mean over seeds, band = min to max over seeds")
    for metric, name in (("acc", "accuracy.png"), ("loss", "loss.png")):
        with atomic_write(out_dir / name) as tmp:
            plot_curves(study.history_rows, metric, plot_split, tmp, order=order,
                        title=title if metric == "acc" else None)
    return study.summary


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


def environment(threads: int) -> dict:
    """Versions and machine of this process: what a run records about where it trained."""
    import platform
    import socket
    import sys

    import torch

    from .. import __version__

    return {"actlab": __version__, "torch": torch.__version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "host": socket.gethostname(), "threads": threads}


def write_config_json(path, study, store: Store, splits, workers: int, backend: str) -> None:
    """config.json: every invocation's command, every setting, the data actually used (with file hashes),
    and the software versions. Rewritten whole at each invocation (atomically), never losing an earlier
    command: those come from the store's invocations table."""
    import json

    import torch

    stored, invocations = store.study(), store.invocations()
    info = {
        "command": invocations[-1]["command"] if invocations else stored["command"],  # this invocation's
        "invocations": invocations,
        "study_command": stored["command"],
        "study_id": stored["study_id"],
        "created": stored["created"],
        "config": study.config(),
        "data": {**splits.provenance, "data_dir": study.data_dir, "train": len(splits.train_y),
                 "val": len(splits.val_y), "test": len(splits.test_y), "classes": list(splits.classes)},
        "workers": workers,
        "backend": backend,
        "versions": {k: v for k, v in environment(torch.get_num_threads()).items()
                     if k in ("actlab", "torch", "python", "platform")},
        "environment": {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
                        "host": environment(0)["host"],
                        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
    }
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
