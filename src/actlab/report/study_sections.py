"""The tables of the study report, one function per section."""
from __future__ import annotations

import math
import re
from collections import defaultdict

from ..catalog import spec as catalog_spec
from ..catalog.properties import compute
from ..results.metric import ACCURACY, Metric
from .fit import is_task_row
from .html import Cell, esc, fmt, table
from .mathsvg import formula_html
from .study_data import StudyData
from .study_warnings import diverged_runs
from .svgchart import interval_chart

GRADIENT_METRICS = {
    "grad_norm_w": "gradient norm of the weights",
    "frac_dead": "fraction of dead units (never active on the batch)",
    "frac_saturated": "fraction of saturated activations",
    "update_ratio": "update size / weight size",
    "grad_norm_b": "gradient norm of the biases",
    "act_mean": "mean activation",
    "act_var": "activation variance",
}


def _num(value) -> float:
    return math.nan if value is None or value == "" else float(value)


def _significance(row: dict) -> Cell:
    if row["rank"] == 1:
        return Cell("best", 0, "sig-best")
    if row["separated_from_best"] == "":
        return Cell("untested", 3)
    if row["separated_from_best"] == "yes":
        return Cell("yes: worse", 1, "sig-yes")
    return Cell("no", 2)


def _rank_interval(row: dict) -> Cell:
    if row["rank_low"] == "":
        return Cell("—", None)
    text = str(row["rank_low"]) if row["rank_low"] == row["rank_high"] else f"{row['rank_low']}–{row['rank_high']}"
    return Cell(esc(text), row["rank_low"], "num")


def _vs_best(row: dict, metric: Metric = ACCURACY) -> Cell:
    diff = -_num(row[metric.rename("diff_vs_best_points")])  # this activation minus the best
    if math.isnan(diff):
        return Cell("—", None)
    lo = -_num(row[metric.rename("diff_vs_best_ci_high")])
    hi = -_num(row[metric.rename("diff_vs_best_ci_low")])
    text = f"{diff:+.2f}" if metric.percent else f"{diff:+.3g}"
    return Cell(esc(f"{text} [{fmt(lo, 3)}, {fmt(hi, 3)}]"), diff, "num")


def _ranking_words(metric: Metric) -> dict:
    """What the ranking table calls its metric columns: accuracy's words as before, another metric's own."""
    if metric.name == "accuracy":
        return {"short": "test acc", "mean": "mean final test accuracy over seeds",
                "ci": "95% interval of the mean, on the logit scale (stays inside [0, 1])",
                "vs": "vs best (points)",
                "vs_title": "difference to the best in accuracy points, with its 95% CI (negative: below the best)",
                "g": "standardised difference to the best (positive: the best is better)",
                "chart": "final test accuracy: mean and 95% CI", "final": "Final test accuracy = test accuracy"}
    worse = "positive" if not metric.higher_is_better else "negative"
    return {"short": f"test {metric.short}", "mean": f"mean final test {metric.label} over seeds "
            f"({'higher' if metric.higher_is_better else 'lower'} is better)",
            "ci": "95% t interval of the mean, cut to the metric's range",
            "vs": f"vs best ({metric.short})",
            "vs_title": f"this activation minus the best, in {metric.label}, with its 95% CI ({worse}: worse than "
                        "the best)",
            "g": "standardised difference, the best minus this one (in the metric's direction: "
                 f"{'positive' if metric.higher_is_better else 'negative'} when the best is better)",
            "chart": f"final test {metric.label}: mean and 95% CI",
            "final": f"Final test {metric.label} = the test value"}


def ranking_section(data: StudyData, colours: dict[str, str]) -> str:
    rows = data.summary.rows
    head = '<h2 id="ranking">Ranking</h2>'
    if not rows:
        return head + '<p class="muted">No finished run yet.</p>'
    metric, col = data.summary.metric, data.summary.col
    words = _ranking_words(metric)
    table_rows = []
    for r in rows:
        lo, hi = _num(r[col("acc_ci_low")]), _num(r[col("acc_ci_high")])
        ci = Cell(esc(f"[{fmt(lo)}, {fmt(hi)}]"), None if math.isnan(lo) else lo, "num")
        n = f"{r['n_runs']}" + ("" if r["n_runs"] == r["n_planned"] else f" of {r['n_planned']}")
        g = _num(r["hedges_g_vs_best"])
        table_rows.append([r["rank"], Cell(f"<code>{esc(r['label'])}</code>", r["label"]),
                           Cell(esc(n), r["n_runs"], "num"), _num(r[col("test_acc_mean")]),
                           _num(r[col("test_acc_std")]), ci,
                           _num(r["p_best"]), _rank_interval(r), _vs_best(r, metric), r["design_vs_best"] or None,
                           _num(r["p_holm_pairs"]), g, _significance(r), _num(r["test_loss_mean"]),
                           _num(r["best_epoch_mean"])])
    headers = ["rank", "activation", "runs", words["short"], "sd", "95% CI", "P(best)", "rank (95%)",
               words["vs"], "design", "p (Holm)", "Hedges' g", "separated", "test loss", "best epoch"]
    titles = ["", "", "finished runs (of planned)", words["mean"],
              "standard deviation over seeds", words["ci"],
              "probability of being the best (t posterior over seeds)", "95% interval of the rank (t posterior)",
              words["vs_title"],
              "paired over common seeds, or Welch", "against the best, Holm-corrected over all pairs",
              words["g"],
              f"Holm p < {data.summary.ranking.alpha}",
              "mean test cross-entropy" if metric.name == "accuracy" else "mean test loss (the training loss)",
              "mean epoch of lowest validation loss"]
    def chart(point_rows, chart_id):
        return interval_chart([(r["label"], _num(r[col("test_acc_mean")]), lo, hi, colours[r["label"]])
                               for r in point_rows
                               for lo, hi in [(_num(r[col("acc_ci_low")]), _num(r[col("acc_ci_high")]))]],
                              chart_id=chart_id, xlabel=words["chart"])

    grids = data.summary.grids
    if grids:  # one comparison per grid point: a heading, a table and a chart each (ids ranking-table-1, ci-chart-1, ...)
        tables = "".join(
            f'<h3 class="grid-point">At {esc(point.replace(";", ", "))}</h3>'
            + table(headers, [t for t, r in zip(table_rows, rows) if r["grid"] == point],
                    table_id=f"ranking-table-{i}", titles=titles)
            + chart([r for r in rows if r["grid"] == point], f"ci-chart-{i}")
            for i, point in enumerate((p for p in grids if any(r["grid"] == p for r in rows)), 1))
        within = (" Each grid point is its own comparison: ranks, P(best), the best and Holm's correction are "
                  "within it, never across grid points, and so is each chart.")
    else:
        tables, within = table(headers, table_rows, table_id="ranking-table", titles=titles) + chart(rows, "ci-chart"), ""
    return (head + f'<p class="muted">{esc(words["final"])} at each finished run\'s lowest-'
            "validation-loss epoch. P(best) and the rank interval come from a t posterior over seeds (paired; docs/racing.md); each activation "
            "is compared with the best paired over common seeds (Welch where fewer than two are common), "
            f"Holm-corrected over all pairs at alpha = {data.summary.ranking.alpha}. summary.csv keeps the "
            f"plain t interval and the Welch test against the best as well.{esc(within)}</p>"
            + tables)


def _per_run_cost(data: StudyData) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for row in data.history:
        c = out.setdefault(row["run_id"], {"label": row["label"], "seconds": 0.0, "epochs": 0, "samples": None})
        if row["seconds"] is not None:
            c["seconds"] += row["seconds"]
            c["epochs"] += 1
        c["samples"] = row["samples"]
    return out


def cost_section(data: StudyData) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for c in _per_run_cost(data).values():
        if c["epochs"]:
            groups[c["label"]].append(c)
    head = '<h2 id="cost">Cost</h2>'
    if not groups:
        return head + '<p class="muted">No timed epoch yet.</p>'
    per_epoch = {k: sum(c["seconds"] for c in v) / sum(c["epochs"] for c in v) for k, v in groups.items()}
    fastest = min(per_epoch.values())
    rows = []
    for label, runs in groups.items():
        rates = [c["samples"] / c["seconds"] for c in runs if c["samples"] and c["seconds"] > 0]
        rows.append([Cell(f"<code>{esc(label)}</code>", label), len(runs), sum(c["epochs"] for c in runs),
                     per_epoch[label], sum(rates) / len(rates) if rates else math.nan,
                     per_epoch[label] / fastest if fastest > 0 else math.nan])
    return (head + '<p class="muted">Wall time of training epochs (including evaluation), over every recorded '
            "epoch, finished or not. Runs may have shared the machine, so small differences are noise.</p>"
            + table(["activation", "runs", "epochs", "seconds per epoch", "samples per second",
                     "time relative to fastest"], rows, table_id="cost-table"))


def _layer_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def gradient_section(data: StudyData) -> str:
    head = '<h2 id="gradients">Gradient diagnostics</h2>'
    layer_stats = [r for r in data.layer_stats if not is_task_row(r["layer"])]  # a task's own numbers: elsewhere
    if not layer_stats:
        flag = "was run with diagnostics on" if data.config.get("diagnostics") else "ran without --diagnostics"
        return head + f'<p class="muted">Not recorded: this study {esc(flag)}.</p>'
    last = {}
    for row in layer_stats:
        last[row["run_id"]] = max(last.get(row["run_id"], 0), row["epoch"])
    values: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    layers = set()
    for row in layer_stats:
        if row["epoch"] == last[row["run_id"]] and row["value"] is not None and math.isfinite(row["value"]):
            values[row["metric"]][row["label"]][row["layer"]].append(row["value"])
            layers.add(row["layer"])
    layer_order = sorted(layers, key=_layer_key)
    order = list(GRADIENT_METRICS) + sorted(m for m in values if m not in GRADIENT_METRICS)
    parts = [head, '<p class="muted">Per layer, at each run\'s last recorded epoch, mean over seeds.</p>']
    for metric in (m for m in order if m in values):
        rows = []
        for label, per_layer in values[metric].items():
            rows.append([Cell(f"<code>{esc(label)}</code>", label)]
                        + [sum(v) / len(v) if v else None
                           for v in (per_layer.get(layer, []) for layer in layer_order)])
        parts.append(f"<h3>{esc(metric)}: {esc(GRADIENT_METRICS.get(metric, metric))}</h3>"
                     + table(["activation", *layer_order], rows, table_id=f"grad-{metric}"))
    return "".join(parts)


def properties_section(data: StudyData) -> str:
    head = '<h2 id="properties">Properties of the compared activations</h2>'
    headers, rows = None, []
    for s in dict.fromkeys(r["activation"] for r in data.runs):
        name = Cell(f"<code>{esc(s)}</code>", s)
        try:
            props = compute(s)
        except (KeyError, ValueError) as e:  # a store written by another actlab version
            rows.append([name, Cell(esc(f"not in this catalog: {e}"))])
            continue
        row = props.as_row()
        row.pop("name")
        headers = headers or ["activation", "f(x)", *row, "largest slope", "f′(0)"]
        rows.append([name, Cell(formula_html(catalog_spec(props.name).formula)), *row.values(),
                     props.max_slope, props.df0])
    if headers is None:
        return head + '<p class="muted">None of these activations is in this catalog.</p>'
    return (head + '<p class="muted">Computed from each definition with the study\'s parameters (see '
            "<code>actlab show NAME</code>).</p>" + table(headers, rows, table_id="properties-table"))


def runs_section(data: StudyData) -> str:
    recorded: dict[int, list[dict]] = defaultdict(list)
    for row in data.history:
        recorded[row["run_id"]].append(row)
    final = {(r.label, r.seed): r for r in data.summary.results}
    diverged = diverged_runs(data)
    rows, classes = [], []
    for run in data.runs:
        epochs = recorded.get(run["run_id"], [])
        result = final.get((run["label"], run["seed"])) if run["status"] in ("done", "diverged") else None
        note = f"diverged at epoch {diverged[run['run_id']]}" if run["run_id"] in diverged else ""
        rows.append([run["run_id"], Cell(f"<code>{esc(run['label'])}</code>", run["label"]), run["seed"],
                     run["status"], Cell(esc(f"{len(epochs)} / {run['epochs']}"), len(epochs), "num"),
                     result.best_epoch if result else None, result.test_acc if result else None,
                     epochs[-1]["val_acc"] if epochs else None, run["attempts"], note])
        classes.append("in-progress" if run["status"] in ("pending", "running") else "")
    short = data.summary.metric.short
    return ('<h2 id="runs">Runs</h2>'
            + table(["run", "activation", "seed", "status", "epochs", "best epoch", f"final test {short}",
                     f"last val {short}", "attempts", "note"], rows, table_id="runs-table", row_classes=classes))


def _kv_table(items, table_id: str) -> str:
    return table(["setting", "value"], [[k, Cell(esc(_show(v)), None)] for k, v in items],
                 table_id=table_id, sortable=False)


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    if isinstance(value, dict):
        return "; ".join(f"{k}={_show(v)}" for k, v in value.items()) or "—"
    return fmt(value)


def config_section(data: StudyData) -> str:
    command = data.study["command"] or "(not recorded)"
    parts = ['<h2 id="config">Command and configuration</h2>',
             f'<p>Created by:</p><pre id="command"><code>{esc(command)}</code></pre>']
    latest = (data.info or {}).get("command")
    if latest and latest != data.study["command"]:
        parts.append(f'<p>Last resumed by:</p><pre><code>{esc(latest)}</code></pre>')
    parts.append(_kv_table(sorted(data.config.items()), "config-table"))
    data_info = (data.info or {}).get("data")
    if isinstance(data_info, dict):
        parts.append("<h3>Data used</h3>" + _kv_table(data_info.items(), "data-table"))
    return "".join(parts)


def environment_section(data: StudyData, now: str) -> str:
    info = data.info or {}
    items = [("study id", data.study["study_id"]), ("created", data.study["created"]),
             ("written by actlab", data.study["actlab_version"])]
    recorded = [r["recorded"] for r in data.history if r.get("recorded")]
    if recorded:
        items.append(("last epoch recorded", max(recorded)))
    for key in ("versions", "environment"):
        if isinstance(info.get(key), dict):
            items.extend(info[key].items())
    if "workers" in info:
        items.append(("worker processes", info["workers"]))
    names = {k for k, _ in items}
    for wanted in ("cpu", "threads"):
        if wanted not in names:
            items.append((wanted, "not recorded by the study"))
    items.append(("report built", now))
    note = f'<p class="muted">{esc(data.info_problem)}.</p>' if data.info_problem else ""
    return '<h2 id="environment">Environment</h2>' + note + _kv_table(items, "environment-table")
