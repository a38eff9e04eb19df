"""Accuracy against depth, one line per activation with its seeds' band: the deep-mlp task's figure.

Self-contained: give it the finished runs (:func:`actlab.results.summary.run_results`,
or any rows with ``activation``, ``grid`` and ``test_acc``) and it returns an
inline SVG section (empty when the study does not sweep depth).
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

from .html import esc
from .svgchart import Series, color, legend, line_chart


def _get(row, key):
    return row[key] if isinstance(row, Mapping) else getattr(row, key)


def depth_points(results: Iterable, setting: str = "depth", metric: str = "test_acc") -> dict[str, list[tuple]]:
    """Per activation, sorted by depth: (depth, mean, lowest, highest, seeds) of ``metric`` over the seeds.

    A run whose value is not finite (a diverged run) is left out of the
    mean and band; a depth with no finite run gives NaN (a gap in the line).
    Runs without ``setting`` in their grid are ignored.

    Examples:
        >>> rows = [{"activation": "relu", "grid": {"depth": 4}, "test_acc": a} for a in (0.5, 0.75)]
        >>> depth_points(rows)["relu"]
        [(4, 0.625, 0.5, 0.75, 2)]
    """
    values: dict[str, dict[int, list[float]]] = {}
    for row in results:
        grid = _get(row, "grid") or {}
        if setting not in grid:
            continue
        per_depth = values.setdefault(_get(row, "activation"), {}).setdefault(grid[setting], [])
        value = _get(row, metric)
        if value is not None and math.isfinite(value):
            per_depth.append(float(value))
    out = {}
    for activation, by_depth in values.items():
        out[activation] = [(d, sum(v) / len(v), min(v), max(v), len(v)) if v else
                           (d, math.nan, math.nan, math.nan, 0) for d, v in sorted(by_depth.items())]
    return out


def depth_section(results: Iterable, *, chart_id: str = "depth", metric: str = "test_acc",
                  chance: float | None = None, label: str | None = None) -> str:
    """An HTML section: the chart of ``metric`` against depth (line: mean over seeds; band: lowest to highest
    seed) for every activation, with a legend; ``chance`` draws the chance level as a dashed line. ``label``
    names what ``metric`` holds ('test bits per character'; default: the column's name, 'test acc')."""
    points = depth_points(results, metric=metric)
    if not points:
        return ""
    series = [Series(label=a, x=[p[0] for p in pts], y=[p[1] for p in pts], color=color(i),
                     lo=[p[2] for p in pts], hi=[p[3] for p in pts]) for i, (a, pts) in enumerate(points.items())]
    depths = sorted({p[0] for pts in points.values() for p in pts})
    if chance is not None:
        series.append(Series(label="chance", x=[depths[0], depths[-1]], y=[chance, chance], color="#7f7f7f",
                             dashed=True))
    name = label or metric.replace("_", " ")
    heading = "Accuracy" if label is None else name[0].upper() + name[1:]
    chart = line_chart(series, chart_id=chart_id, title=f"{name} against depth",
                       xlabel="hidden layers", ylabel=name, integer_x=True)
    return (f'<section id="{esc(chart_id)}-section"><h2>{esc(heading)} against depth</h2>{chart}{legend(series)}'
            "<p>Line: mean over seeds; band: the lowest to the highest seed. Diverged runs are left out.</p>"
            "</section>")
