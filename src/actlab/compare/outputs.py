"""What ``actlab compare`` writes beside its store: summary.csv, history.csv, the plots, config.json.

The numbers come from :mod:`actlab.results` (the ranking, the history, the
protocol and how failures count are documented there); this module only
formats and writes them. The names below are re-exported for code written
against ``actlab.compare.outputs``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..results import Study
from ..results.summary import (HISTORY_COLUMNS, SUMMARY_COLUMNS, RunResult, Summary, best_epoch, chance_warnings,
                               history_rows, run_results, summarize)
from ..store import Store, atomic_write

__all__ = ["HISTORY_COLUMNS", "SUMMARY_COLUMNS", "RunResult", "Summary", "best_epoch", "chance_warnings",
           "format_ranking", "history_rows", "run_results", "summarize", "write_outputs"]


def _fmt(value: float, digits: int = 4) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def format_ranking(summary: Summary) -> str:
    """The ranking as a text table, with the protocol and every warning spelled out."""
    header = ("rank", "activation", "n", "test acc mean ± sd", "95% CI", "test loss", "best ep", "s/epoch",
              "vs best")
    lines = []
    for r in summary.rows:
        ci = f"[{_fmt(r['test_acc_ci_low'])}, {_fmt(r['test_acc_ci_high'])}]"
        verdict = r["verdict"] + ("" if math.isnan(r["cohens_d"]) else f", d={r['cohens_d']:.2f}")
        n = str(r["n_runs"]) + ("" if r["n_runs"] == r["n_planned"] else f"/{r['n_planned']}")
        if r["n_diverged"]:
            n += f" ({r['n_diverged']} diverged)"
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
    """Write summary.csv, history.csv, accuracy.png and loss.png into ``out_dir``; return the summary.

    All four come from one :class:`~actlab.results.Study` read of the store.
    """
    from ..plots.curves import plot_curves

    out_dir = Path(out_dir)
    study = Study.read(store, out_dir)
    study.write_tables(out_dir)
    order = [r["label"] for r in study.summary.rows]
    for metric, name in (("acc", "accuracy.png"), ("loss", "loss.png")):
        with atomic_write(out_dir / name) as tmp:
            plot_curves(study.history_rows, metric, plot_split, tmp, order=order)
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
