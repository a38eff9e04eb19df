"""What a tuning study shows: each activation's tuned configuration and final numbers, and how sensitive
each activation is to the learning rate (trials.csv, tuned.csv, lr_sensitivity.png)."""
from __future__ import annotations

import math
from pathlib import Path

from ..results.summary import write_csv
from ..store import atomic_write

# A trial within this much validation accuracy of an activation's best counts as "as good as the best".
GOOD_MARGIN = 0.01
TRIAL_COLUMNS = ("activation", "number", "status", "score", "best_epoch", "params")


def sensitivity(points) -> dict:
    """From (lr, validation accuracy) pairs of one activation's trials:

    ``val_acc_spread``: best minus worst accuracy over the trials (how much
    a poor choice costs); ``lr_good_decades``: log10 of the ratio between the
    largest and smallest lr whose accuracy is within GOOD_MARGIN of the best
    (how wide the good region is; wider is more forgiving). NaN without trials.
    """
    scored = [(lr, acc) for lr, acc in points if acc is not None and not math.isnan(acc)]
    if not scored:
        return {"val_acc_spread": math.nan, "lr_good_decades": math.nan}
    best = max(acc for _, acc in scored)
    good = [lr for lr, acc in scored if acc >= best - GOOD_MARGIN and lr is not None]
    return {"val_acc_spread": best - min(acc for _, acc in scored),
            "lr_good_decades": math.log10(max(good) / min(good)) if good else math.nan}


def tuned_rows(store, spec, summary) -> list[dict]:
    """One row per activation, in the final ranking's order: tuned parameters, search score, sensitivity,
    and the final test accuracy over seeds with its confidence interval."""
    from .trials import best_trials, trials

    metric = getattr(summary, "metric", None)
    if metric is not None and metric.name != "accuracy":  # tuning scores trials by validation accuracy only
        raise ValueError(f"actlab tune ranks by validation accuracy, but this study's metric is {metric.label}; "
                         "tune a classification task, or compare activations on this task with 'actlab compare'")
    finished = trials(store, "done")
    best = best_trials(store, spec.study.activations)
    ranked = {r["activation"]: r for r in summary.rows}
    order = [r["activation"] for r in summary.rows] + [a for a in spec.study.activations if a not in ranked]
    rows = []
    for activation in order:
        own = [t for t in finished if t["activation"] == activation]
        final = ranked.get(activation, {})
        rows.append({
            "rank": final.get("rank", ""), "activation": activation, **best[activation]["params"],
            "trials": len(own), "best_trial": best[activation]["number"], "search_val_acc": best[activation]["score"],
            **sensitivity([(t["params"].get("lr", t["config"]["lr"]), t["score"]) for t in own]),
            "test_acc_mean": final.get("test_acc_mean", math.nan),
            "test_acc_ci_low": final.get("test_acc_ci_low", math.nan),
            "test_acc_ci_high": final.get("test_acc_ci_high", math.nan),
            "n_runs": final.get("n_runs", 0), "verdict": final.get("verdict", "no finished final run"),
        })
    return rows


def tuned_columns(spec) -> tuple:
    return ("rank", "activation", *(p.name for p in spec.space), "trials", "best_trial", "search_val_acc",
            "val_acc_spread", "lr_good_decades", "test_acc_mean", "test_acc_ci_low", "test_acc_ci_high", "n_runs",
            "verdict")


def plot_lr_sensitivity(store, path, order) -> bool:
    """Validation accuracy against learning rate (log axis), one colour per activation, a line through each
    activation's trials in lr order; returns False (no file) when no trial varied lr."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from .trials import trials

    points: dict[str, list] = {}
    for t in trials(store, "done"):
        if "lr" in t["params"] and t["score"] is not None:
            points.setdefault(t["activation"], []).append((t["params"]["lr"], t["score"]))
    if not points:
        return False
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["tab10" if len(points) <= 10 else "tab20"]
    for i, activation in enumerate(a for a in order if a in points):
        xs, ys = zip(*sorted(points[activation]))
        ax.plot(xs, ys, marker="o", markersize=4, linewidth=1, color=cmap(i % cmap.N),
                label=f"{activation} (best {max(ys):.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.set_title("Learning-rate sensitivity: each search trial's validation accuracy", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=120)
    return True


def write_report(store, spec, summary, out_dir) -> list[dict]:
    """trials.csv, tuned.csv and lr_sensitivity.png in ``out_dir``; returns the tuned rows."""
    from .trials import trials

    out = Path(out_dir)
    rows = tuned_rows(store, spec, summary)
    write_csv(out / "tuned.csv", tuned_columns(spec), rows)
    trial_rows = [{**t, "params": ";".join(f"{k}={v}" for k, v in sorted(t["params"].items()))}
                  for t in trials(store)]
    write_csv(out / "trials.csv", TRIAL_COLUMNS, trial_rows)
    plot_lr_sensitivity(store, out / "lr_sensitivity.png", [r["activation"] for r in rows])
    return rows


def format_tuned(rows, spec) -> str:
    """The tuned configurations as a text table."""
    names = [p.name for p in spec.space]
    header = ("rank", "activation", *names, "search val acc", "spread", "good lr decades", "test acc [95% CI]")

    def fmt(v, digits=4):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    lines = [(str(r["rank"]), r["activation"], *(f"{r[n]:g}" if isinstance(r[n], float) else str(r[n]) for n in names),
              fmt(r["search_val_acc"]), fmt(r["val_acc_spread"]), fmt(r["lr_good_decades"], 2),
              f"{fmt(r['test_acc_mean'])} [{fmt(r['test_acc_ci_low'])}, {fmt(r['test_acc_ci_high'])}]")
             for r in rows]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *lines]]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.append("")
    text.append(f"Search: validation accuracy (at the lowest-validation-loss epoch) of the best trial; spread = best "
                f"minus worst trial; good lr decades = width (log10) of the lr range within {GOOD_MARGIN} of the "
                "best (wider: less sensitive). Test numbers come from the final runs over seeds only.")
    return "\n".join(text)
