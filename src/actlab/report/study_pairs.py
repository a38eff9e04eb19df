"""The verdict in the study report: the sentence, the pairwise heatmap, every pair, and the power of open pairs.

All numbers are the study summary's (``data.summary.pairs``, pairs.csv's
rows, and ``data.summary.verdict``), read through :mod:`actlab.results`.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..results.metric import ACCURACY, Metric
from .html import Cell, attr, esc, fmt, table
from .study_data import StudyData

POSITIVE, NEGATIVE = (33, 102, 172), (178, 24, 43)  # row better / row worse (colour-blind-safe blue and red)


def verdict_paragraph(data: StudyData) -> str:
    """The verdict sentence for the top of the page ('' before any run finished)."""
    if not data.summary.sentence:
        return ""
    text = "<br>".join(esc(p) for p in data.summary.sentence.split("\n\n"))  # a grid: a line per grid point
    return (f'<p class="verdict" id="verdict" style="font-size:1.1em;border-left:5px solid #1f5fa8;'
            f'padding:.4em .8em;background:#f4f6f8"><strong>Verdict:</strong> {text}</p>')


def shade(diff: float, scale: float) -> str:
    """White at 0, full blue (row better) or red (row worse) at ``scale`` points and beyond."""
    base = POSITIVE if diff > 0 else NEGATIVE
    w = min(1.0, abs(diff) / scale) if scale > 0 else 0.0
    r, g, b = (round(255 + (c - 255) * w) for c in base)
    return f"rgb({r},{g},{b})"


def heatmap(labels: Sequence[str], pairs: Sequence[dict], *, chart_id: str = "pairs-heatmap",
            metric: Metric = ACCURACY) -> str:
    """An SVG matrix: cell (row, column) is mean(row) - mean(column) in accuracy points (paired where the
    seeds allow), coloured by size and sign; separated pairs (Holm) get a dark frame and a star.

    For another ``metric`` the cell is the difference in its own units (bits per character), and the colour
    means the same whatever the direction: blue where the row is better (lower bits per character), red
    where it is worse. ``pairs`` are pairs.csv's rows, their columns named for ``metric``."""
    key = metric.rename
    unit = "points" if metric.percent else metric.short
    pairs = [{**p, "diff_points": p[key("diff_points")],
              "familywise_ci_low_points": p[key("familywise_ci_low_points")],
              "familywise_ci_high_points": p[key("familywise_ci_high_points")]} for p in pairs]
    by = {}
    for p in pairs:
        by[(p["better"], p["worse"])] = (p, 1.0)
        by[(p["worse"], p["better"])] = (p, -1.0)
    diffs = [abs(p["diff_points"]) for p in pairs if math.isfinite(p["diff_points"])]
    scale = max(diffs) if diffs else 1.0
    n, size = len(labels), 58
    longest = 6.5 * max(len(x) for x in labels)  # px of the longest label at 11 px
    left = 16 + longest
    top = 16 + 0.643 * longest  # column labels rise at 40 degrees: sin 40 = 0.643, cos 40 = 0.766
    width = left + n * size + max(10.0, 0.766 * longest - size / 2 + 10)
    height = top + n * size + 10
    out = [f'<svg class="chart heatmap" viewBox="0 0 {width:.0f} {height:.0f}" role="img"{attr("id", chart_id)}'
           f'{attr("aria-label", "pairwise differences in " + ("accuracy points" if metric.percent else metric.label))}'
           f' style="max-width:{1.3 * width:.0f}px">']
    for j, label in enumerate(labels):
        x = left + j * size + size / 2
        out.append(f'<text class="tick" transform="translate({x:.1f} {top - 6:.1f}) rotate(-40)">{esc(label)}</text>')
    for i, row in enumerate(labels):
        y = top + i * size
        out.append(f'<text class="tick" x="{left - 6:.1f}" y="{y + size / 2 + 4:.1f}" text-anchor="end">{esc(row)}</text>')
        for j, col in enumerate(labels):
            x = left + j * size
            if i == j or (row, col) not in by:
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{size}" height="{size}" fill="#eef0f2" stroke="#fff"/>')
                continue
            p, sign = by[(row, col)]
            diff = sign * p["diff_points"]
            sep = p["separated"] == "yes"
            lo, hi = sorted((sign * p["familywise_ci_low_points"], sign * p["familywise_ci_high_points"]))
            shown = f"{diff:+.2f}" if metric.percent else f"{diff:+.3g}"
            tip = (f"{row} - {col}: {shown} {unit}, family-wise 95% CI [{fmt(lo, 3)}, {fmt(hi, 3)}], "
                   f"{p['design']}, Holm p = {fmt(p['p_holm'], 3)}: "
                   + ("separated" if sep else "not separated" if p["separated"] == "no" else "not testable"))
            fill = shade(metric.oriented(diff), scale) if math.isfinite(diff) else "#eef0f2"  # blue: row better
            frame = ' stroke="#111" stroke-width="3"' if sep else ' stroke="#fff"'
            ink = "#fff" if math.isfinite(diff) and abs(diff) > 0.6 * scale else "#1d232b"
            text = ("-" if not math.isfinite(diff) else shown) + ("*" if sep else "")
            weight = ' font-weight="700"' if sep else ""
            out.append(f'<g class="pair{" separated" if sep else ""}"><title>{esc(tip)}</title>'
                       f'<rect x="{x + 1.5:.1f}" y="{y + 1.5:.1f}" width="{size - 3}" height="{size - 3}" fill="{fill}"'
                       f'{frame}/><text x="{x + size / 2:.1f}" y="{y + size / 2 + 4:.1f}" text-anchor="middle" '
                       f'font-size="12" fill="{ink}"{weight}>{esc(text)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _ci(low: float, high: float) -> Cell:
    return Cell(esc(f"[{fmt(low, 3)}, {fmt(high, 3)}]"), None if math.isnan(low) else low, "num")


def _g(p: dict) -> Cell:
    return Cell(esc(f"{fmt(p['hedges_g'], 3)} [{fmt(p['hedges_g_ci_low'], 3)}, {fmt(p['hedges_g_ci_high'], 3)}]"),
                None if math.isnan(p["hedges_g"]) else p["hedges_g"], "num")


def pairs_section(data: StudyData) -> str:
    """The heatmap, the open pairs with their power, and the table of every pair."""
    head = '<h2 id="pairs">Pairs</h2>'
    pairs = data.summary.pairs
    if not pairs:
        return head + '<p class="muted">Fewer than two activations have finished runs: no pair to compare.</p>'
    alpha = data.summary.ranking.alpha
    metric, col = data.summary.metric, data.summary.col
    unit = "points" if metric.percent else metric.short
    units = "accuracy points" if metric.percent else metric.label
    labels = [r["label"] for r in data.summary.rows if any(r["label"] in (p["better"], p["worse"]) for p in pairs)]
    place = {k: i for i, k in enumerate(labels)}
    pairs = sorted(pairs, key=lambda p: (place.get(p["better"], 0), place.get(p["worse"], 0)))
    intro = ('<p class="muted">Every pair of activations, compared paired over the seeds both finished (a seed '
             "fixes the data order, dropout stream and initial-weight stream for every activation), with Welch's "
             f"test where fewer than two seeds are common. Cell = row minus column in {units}; blue: the "
             "row is better, red: worse; a dark frame and * mark pairs separated by Holm's correction over all "
             f"pairs at alpha = {alpha}. Hover a cell for its family-wise interval.</p>")
    open_rows = [[Cell(f"<code>{esc(p['better'])}</code> vs <code>{esc(p['worse'])}</code>", p["better"]),
                  p[col("diff_points")], _ci(p[col("familywise_ci_low_points")], p[col("familywise_ci_high_points")]),
                  p["design"], p["p_holm"], p[col("detectable_points")],
                  p["seeds_needed"] if p["seeds_needed"] != "" else None]
                 for p in pairs if p["separated"] == "no"]
    power = ("<h3>Open pairs: what it would take</h3>"
             '<p class="muted">For each pair not separated: the smallest difference these seeds would detect '
             "with 80% power, and the seeds per activation that would separate the observed difference with "
             "80% power (noncentral t, at the Bonferroni level alpha/pairs; estimates from the observed "
             "spread).</p>"
             + table(["pair", f"difference ({unit})", "family-wise 95% CI", "design", "p (Holm)",
                      f"detectable ({unit})", "seeds needed"], open_rows, table_id="power-table")
             if open_rows else '<p class="muted">Every pair is separated.</p>')
    rows = []
    for p in pairs:
        paired = p["design"] == "paired"
        rows.append([Cell(f"<code>{esc(p['better'])}</code>", p["better"]),
                     Cell(f"<code>{esc(p['worse'])}</code>", p["worse"]), p["design"],
                     p["n_seeds"] if paired else f"{p['n_better']} / {p['n_worse']}", p[col("diff_points")],
                     _ci(p[col("ci_low_points")], p[col("ci_high_points")]),
                     _ci(p[col("familywise_ci_low_points")], p[col("familywise_ci_high_points")]),
                     p["p_paired_t"] if paired else p["p_welch"], p["p_wilcoxon"] if paired else p["p_mannwhitney"],
                     p["p_holm"], Cell(esc(p["separated"] or "untested"), p["separated"],
                                       "sig-yes" if p["separated"] == "yes" else ""), _g(p)])
    every = table(["better", "worse", "design", "seeds", f"difference ({unit})", "95% CI", "family-wise 95% CI",
                   "p (t-test)", "p (rank test)", "p (Holm)", "separated", "Hedges' g [95% CI]"], rows,
                  table_id="pairs-table",
                  titles=["higher mean" if metric.higher_is_better else "lower mean", "",
                          "paired over common seeds, or Welch", "common seeds (paired) or "
                          "runs per side", "better minus worse", "this pair's own 95% interval",
                          "Bonferroni: all pairs together at 95%", "paired t (paired) or Welch",
                          "Wilcoxon signed-rank (paired) or Mann-Whitney U (Welch)", "Holm over all pairs",
                          f"Holm p < {alpha}", "paired: g_z (SD of differences); Welch: g_s (pooled SD)"])
    if data.summary.grids:  # one heatmap per grid point: no pair crosses grid points
        grid_of = {r["label"]: r["grid"] for r in data.summary.rows}
        points = [p for p in data.summary.grids if any(grid_of.get(k) == p for k in labels)]
        maps = "".join(
            f'<h3 class="grid-point">At {esc(point.replace(";", ", "))}</h3>'
            + heatmap([k for k in labels if grid_of.get(k) == point], [p for p in pairs if p["grid"] == point],
                      chart_id=f"pairs-heatmap-{i}", metric=metric)
            for i, point in enumerate(points, 1))
        intro = intro.replace("over all pairs", "over all pairs of the grid point (each grid point is its own "
                              "comparison)")
    else:
        maps = heatmap(labels, pairs, metric=metric)
    return head + intro + maps + power + "<h3>Every pair</h3>" + every
