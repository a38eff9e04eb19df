"""Line charts as inline SVG, drawn in Python: thumbnails and study curves.

Our own few lines instead of matplotlib figures keep pages small, need no
fonts or image files, and let every label be escaped like any other text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from .html import attr, esc

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: str
    lo: Optional[Sequence[float]] = None  # band, e.g. min/max over seeds
    hi: Optional[Sequence[float]] = None
    dashed: bool = False


def _finite_runs(xs, ys):
    """Split a polyline at missing (non-finite) points, so a NaN leaves a gap, not a lie."""
    run = []
    for x, y in zip(xs, ys):
        if y is None or not math.isfinite(y):
            if run:
                yield run
            run = []
        else:
            run.append((x, y))
    if run:
        yield run


def _limits(series: Sequence[Series], axis: str) -> tuple[float, float]:
    vals = []
    for s in series:
        for seq in (getattr(s, axis), s.lo if axis == "y" else None, s.hi if axis == "y" else None):
            if seq is not None:
                vals.extend(v for v in seq if v is not None and math.isfinite(v))
    if not vals:
        return 0.0, 1.0
    lo, hi = min(vals), max(vals)
    if hi - lo < 1e-12:
        return lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo) if axis == "y" else 0.0
    return lo - pad, hi + pad


def line_chart(series: Sequence[Series], *, chart_id: str, title: str = "", xlabel: str = "", ylabel: str = "",
               width: int = 460, height: int = 280, xlim=None, ylim=None, axes: bool = True,
               integer_x: bool = False) -> str:
    """An SVG chart; ``axes=False`` gives a bare thumbnail. ``chart_id`` must be unique on the page;
    ``integer_x`` puts x ticks on whole numbers only (epochs)."""
    left, right, top, bottom = (52, 10, 24 if title else 10, 38) if axes else (2, 2, 2, 2)
    x0, x1 = xlim or _limits(series, "x")
    y0, y1 = ylim or _limits(series, "y")
    pw, ph = width - left - right, height - top - bottom

    def px(x):
        return left + (x - x0) / (x1 - x0) * pw

    def py(y):
        return top + (y1 - min(max(y, y0 - (y1 - y0)), y1 + (y1 - y0))) / (y1 - y0) * ph

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"{attr("id", chart_id)}'
           f'{attr("aria-label", title or ylabel)}>',
           f'<defs><clipPath id="clip-{esc(chart_id)}"><rect x="{left}" y="{top}" width="{pw}" height="{ph}"/>'
           "</clipPath></defs>"]
    if axes:
        out.append(_axes(px, py, (x0, x1), (y0, y1), left, top, pw, ph, title, xlabel, ylabel, width, height,
                         integer_x))
    elif y0 < 0 < y1:
        out.append(f'<line class="zero" x1="{left}" x2="{left + pw}" y1="{py(0):.1f}" y2="{py(0):.1f}"/>')
    out.append(f'<g clip-path="url(#clip-{esc(chart_id)})">')
    for s in series:
        if s.lo is not None and s.hi is not None:
            for run in _band_runs(s):
                upper = " ".join(f"{px(x):.1f},{py(h):.1f}" for x, _, h in run)
                lower = " ".join(f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(run))
                out.append(f'<polygon class="band" points="{upper} {lower}" fill="{s.color}"/>')
        for run in _finite_runs(s.x, s.y):
            pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            dash = ' stroke-dasharray="5 3"' if s.dashed else ""
            out.append(f'<polyline class="line" points="{pts}" stroke="{s.color}"{dash}>'
                       f"<title>{esc(s.label)}</title></polyline>")
    out.append("</g></svg>")
    return "".join(out)


def _band_runs(s: Series):
    run = []
    for x, lo, hi in zip(s.x, s.lo, s.hi):
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            if run:
                yield run
            run = []
        else:
            run.append((x, lo, hi))
    if run:
        yield run


def _axes(px, py, xlim, ylim, left, top, pw, ph, title, xlabel, ylabel, width, height, integer_x) -> str:
    parts = [f'<rect class="frame" x="{left}" y="{top}" width="{pw}" height="{ph}"/>']
    for v in MaxNLocator(nbins=6, integer=integer_x).tick_values(*xlim):
        if xlim[0] - 1e-9 <= v <= xlim[1] + 1e-9:
            x = px(v)
            parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}"/>'
                         f'<text class="tick" x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{_tick(v)}</text>')
    for v in MaxNLocator(nbins=5).tick_values(*ylim):
        if ylim[0] - 1e-9 <= v <= ylim[1] + 1e-9:
            y = py(v)
            parts.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>'
                         f'<text class="tick" x="{left - 5}" y="{y + 4:.1f}" text-anchor="end">{_tick(v)}</text>')
    if title:
        parts.append(f'<text class="title" x="{left + pw / 2}" y="{top - 8}" text-anchor="middle">{esc(title)}</text>')
    if xlabel:
        parts.append(f'<text class="label" x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">{esc(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text class="label" transform="translate(12 {top + ph / 2}) rotate(-90)" '
                     f'text-anchor="middle">{esc(ylabel)}</text>')
    return "".join(parts)


def _tick(v: float) -> str:
    v = float(np.round(v, 10))
    return f"{v:g}"


def legend(series: Sequence[Series]) -> str:
    items = "".join(
        f'<span class="key"><span class="swatch" style="background:{s.color}"></span>{esc(s.label)}</span>'
        for s in series)
    return f'<div class="legend">{items}</div>'


def interval_chart(rows: Sequence[tuple[str, float, float, float, str]], *, chart_id: str,
                   xlabel: str = "", width: int = 560) -> str:
    """Means with confidence intervals, one row per (label, mean, low, high, colour); NaN bounds draw no whisker."""
    row_h, left, right, top, bottom = 24, 190, 16, 8, 34
    height = top + bottom + row_h * len(rows)
    values = [v for _, m, lo, hi, _ in rows for v in (m, lo, hi) if v is not None and math.isfinite(v)]
    if not values:
        return ""
    x0, x1 = min(values), max(values)
    pad = 0.08 * (x1 - x0) if x1 > x0 else 0.01
    x0, x1 = x0 - pad, x1 + pad

    def px(v):
        return left + (v - x0) / (x1 - x0) * (width - left - right)

    out = [f'<svg class="chart intervals" viewBox="0 0 {width} {height}" role="img"{attr("id", chart_id)}'
           f'{attr("aria-label", xlabel)}>',
           f'<rect class="frame" x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}"/>']
    for v in MaxNLocator(nbins=6).tick_values(x0, x1):
        if x0 <= v <= x1:
            out.append(f'<line class="grid" x1="{px(v):.1f}" x2="{px(v):.1f}" y1="{top}" y2="{height - bottom}"/>'
                       f'<text class="tick" x="{px(v):.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                       f"{_tick(v)}</text>")
    for i, (label, mean, lo, hi, colour) in enumerate(rows):
        y = top + row_h * i + row_h / 2
        out.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{esc(label)}</text>')
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            out.append(f'<line x1="{px(lo):.1f}" x2="{px(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                       f'stroke-width="2"/><line x1="{px(lo):.1f}" x2="{px(lo):.1f}" y1="{y - 5:.1f}" '
                       f'y2="{y + 5:.1f}" stroke="{colour}"/><line x1="{px(hi):.1f}" x2="{px(hi):.1f}" '
                       f'y1="{y - 5:.1f}" y2="{y + 5:.1f}" stroke="{colour}"/>')
        if mean is not None and math.isfinite(mean):
            out.append(f'<circle cx="{px(mean):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                       f"<title>{esc(label)}: {mean:.4g}</title></circle>")
    if xlabel:
        out.append(f'<text class="label" x="{(left + width - right) / 2}" y="{height - 4}" '
                   f'text-anchor="middle">{esc(xlabel)}</text>')
    out.append("</svg>")
    return "".join(out)
