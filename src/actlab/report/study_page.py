"""The study report page: question, verdict, ranking, pairs, curves, cost, gradients, properties, environment."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .._version import __version__
from ..plots.curves import curve_stats
from ..results.metric import Metric, metric_of
from ..store import atomic_write
from .html import esc, page, warning_box
from .study_data import REPORT_NAME, StudyData, load_study
from .depth import depth_section
from .fit import fit_errors, fit_figures
from .study_pairs import pairs_section, verdict_paragraph
from .study_sections import (config_section, cost_section, environment_section, gradient_section,
                             properties_section, ranking_section, runs_section)
from .study_warnings import weaknesses
from .svgchart import Series, color, legend, line_chart

CURVES = (("val", "acc", "Validation accuracy"), ("val", "loss", "Validation loss"),
          ("test", "acc", "Test accuracy"), ("test", "loss", "Test loss"))


def curves_of(metric: Metric) -> tuple:
    """The four learning curves, the ``*_acc`` ones titled by the study's metric ('Validation bits per
    character')."""
    return tuple((split, m, title.replace("accuracy", metric.label) if m == "acc" else title)
                 for split, m, title in CURVES)


def question(config: dict) -> str:
    acts = config.get("activations") or []
    training = (f"{config.get('epochs')} epochs of {config.get('optimizer')} (lr {config.get('lr')}"
                + (f", clip value {config['clip_value']}" if config.get("clip_value") is not None else "")
                + (f", clip norm {config['clip_norm']}" if config.get("clip_norm") is not None else "") + ")")
    metric = metric_of(config)
    best = "best test accuracy" if metric.name == "accuracy" else \
        f"{'highest' if metric.higher_is_better else 'lowest'} test {metric.label}"
    return (f"Which of {len(acts)} activation functions gives a {config.get('model')} network the {best} "
            f"on {config.get('dataset')}, after {training}, over {config.get('seeds')} seed(s) each?")


def label_colours(data: StudyData) -> dict[str, str]:
    """One colour per group, in ranking order, then any group that has no finished run yet."""
    order = [r["label"] for r in data.summary.rows]
    order += [r["label"] for r in data.runs if r["label"] not in order]
    return {label: color(i) for i, label in enumerate(dict.fromkeys(order))}


def curves_section(data: StudyData, colours: dict[str, str]) -> str:
    if not data.history:
        return "<h2>Learning curves</h2><p class=\"muted\">No epoch has been recorded yet.</p>"
    charts = []
    shown = []
    for split, metric, title in curves_of(data.summary.metric):
        stats = curve_stats(data.history, metric, split)
        series = [Series(f"{label} (n={s['n']})", s["epochs"], s["mean"], colours[label], s["low"], s["high"])
                  for label, s in sorted(stats.items(), key=lambda kv: list(colours).index(kv[0]))]
        shown = shown or series
        charts.append(line_chart(series, chart_id=f"curve-{split}-{metric}", title=title, xlabel="epoch",
                                 ylabel=title.lower(), integer_x=True))
    return ("<h2>Learning curves</h2>"
            '<p class="muted">Mean over seeds per epoch; the band spans the lowest to the highest seed. '
            "Validation data chose each run's best epoch; test curves are shown for completeness only.</p>"
            + legend(shown) + f'<div class="charts" id="curves">{"".join(charts)}</div>')


def status_line(data: StudyData) -> str:
    total, done = len(data.runs), data.count("done")
    parts = [f"{done} of {total} runs finished"]
    for status in ("running", "pending"):
        if data.count(status):
            parts.append(f"{data.count(status)} {status}")
    return ", ".join(parts)


def finished_results(data: StudyData) -> list[dict]:
    """Per finished run (done; a diverged run has no test number): activation, grid and the test metric
    (``test_acc``, whatever the metric is) at its best validation epoch, the numbers the ranking uses."""
    from ..results.summary import best_epoch

    grid = {r["run_id"]: r.get("grid") or {} for r in data.runs if r["status"] == "done"}
    by_run: dict[int, list[dict]] = {}
    for row in data.history:
        if row["run_id"] in grid:
            by_run.setdefault(row["run_id"], []).append(row)
    return [{"activation": rows[-1]["activation"], "grid": grid[run_id], "test_acc": best_epoch(rows)["test_acc"]}
            for run_id, rows in by_run.items()]


def depth_figure(data: StudyData) -> str:
    """The metric against depth (the deep-mlp task's figure), when the study sweeps depth over 2+ values;
    the chance level only for accuracy."""
    depths = {(r.get("grid") or {}).get("depth") for r in data.runs} - {None}
    if len(depths) < 2:
        return ""
    metric = data.summary.metric
    if metric.name != "accuracy":
        return depth_section(finished_results(data), label=f"test {metric.label}")
    classes = len(((data.info or {}).get("data") or {}).get("classes") or []) or None
    return depth_section(finished_results(data), chance=1 / classes if classes else None)


def render(data: StudyData) -> str:
    colours = label_colours(data)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    state = ('<p class="status in-progress" id="status"><strong>In progress:</strong> '
             if data.in_progress else '<p class="status" id="status">') + esc(status_line(data)) + "</p>"
    body = (
        f"<h1>Study report: {esc(data.folder.name or str(data.folder))}</h1>"
        f'<p class="subtitle" id="question">{esc(question(data.config))}</p>' + state
        + verdict_paragraph(data)
        + warning_box(weaknesses(data), "Where this study is weak")
        + ranking_section(data, colours)
        + pairs_section(data)
        + depth_figure(data)
        + fit_errors(data.runs, data.layer_stats, data.summary.results)  # the fit task: error in and out
        + fit_figures(data.runs, data.layer_stats)  # the fit task: fitted functions against the target
        + curves_section(data, colours)
        + cost_section(data)
        + gradient_section(data)
        + properties_section(data)
        + runs_section(data)
        + config_section(data)
        + environment_section(data, now)
    )
    generator = (f"Generated by actlab {__version__} on {now} from {data.folder / 'results.sqlite'}. "
                 "Self-contained; no network requests.")
    return page(f"actlab study: {data.folder.name}", body, nav="<a href=\"#ranking\">ranking</a>"
                '<a href="#pairs">pairs</a><a href="#curves">curves</a><a href="#cost">cost</a>'
                '<a href="#gradients">gradients</a>'
                '<a href="#properties">properties</a><a href="#runs">runs</a><a href="#config">configuration</a>'
                '<a href="#environment">environment</a>', generator=generator)


def write_study_report(out_dir) -> Path:
    """(Re)build ``out_dir/report.html`` from the study's results store; returns its path.

    Raises :class:`~actlab.report.study_data.ReportError` (a ValueError) when
    ``out_dir`` holds no readable study.
    """
    data = load_study(out_dir)
    path = Path(out_dir) / REPORT_NAME
    with atomic_write(path) as tmp:  # a browser open on the old report never reads half of the new one
        tmp.write_text(render(data), encoding="utf-8")
    return path

