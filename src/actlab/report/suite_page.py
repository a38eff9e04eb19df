"""The suite page: one matrix of activations x tasks, where the choice of activation matters and by how much.

Each column is one task (and grid point, e.g. ``deep-mlp depth=32``); its
best activation is the one with the best mean test metric (at each run's
best validation epoch, as the ranking uses): the highest accuracy, or the
lowest bits per character or RMSE (each task's study names its metric,
:func:`actlab.results.metric.metric_of`), so one matrix can mix tasks of
both directions. A cell is the activation's standardized difference from
that best, Hedges' g (paired over the seeds both finished where it can,
Welch otherwise; see :mod:`actlab.results.verdict`), signed so that negative
always means worse than the best (for a lower-is-better metric the sign of
the raw difference is turned), with the difference in the metric's units
(accuracy points, bits per character) in its tooltip; a star marks a difference that survives Holm's correction over all
pairs of the column. Below the matrix: each column's ranking with P(best),
and a link to each task's own report. Read through the results store only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..results.metric import ACCURACY, Metric, metric_of
from ..results.summary import grid_text, run_results
from ..results.verdict import analyse
from ..store import Store, atomic_write
from .html import attr, esc, fmt, page, table
from .study_pairs import shade



@dataclass(frozen=True)
class Column:
    """One task x grid point of the suite: its verdict and each activation's standing against the best."""

    task: str
    grid: str
    folder: str  # the task's study folder, relative to the suite's
    best: str
    cells: dict  # activation -> (g, g_low, g_high, diff, separated, p_best, mean, n); g < 0: worse than best
    sentence: str
    metric: Metric = ACCURACY  # diff is in its unit (accuracy points, bits per character), mean in its own

    @property
    def title(self) -> str:
        return f"{self.task} {self.grid}".strip()


def task_columns(task: str, folder: Path, suite_dir: Path, alpha: float = 0.05) -> list[Column]:
    """The suite's columns of one task's study (one per grid point), from its results store."""
    with Store(folder / "results.sqlite", readonly=True) as store:
        results = run_results(store.epochs())
        metric = metric_of((store.study() or {}).get("config") or {})
    up = 1.0 if metric.higher_is_better else -1.0  # g and diff turned by this read "negative: worse" either way
    by_grid: dict[str, dict[str, dict[int, float]]] = {}
    for r in results:
        if not math.isnan(r.test_acc):
            by_grid.setdefault(grid_text(r.grid), {}).setdefault(r.activation, {})[r.seed] = r.test_acc
    columns = []
    for grid, values in sorted(by_grid.items(), key=lambda kv: _grid_order(kv[0])):
        v = analyse(values, alpha=alpha, resamples=2000, higher_is_better=metric.higher_is_better,
                    bounds=metric.bounds, scale=metric.scale, unit=metric.unit)
        means = {a: sum(s.values()) / len(s) for a, s in values.items()}
        best = max(sorted(means), key=lambda a: metric.oriented(means[a]))  # on a tie, the first by name
        cells = {best: (0.0, math.nan, math.nan, 0.0, False, v.best.get(best), means[best], len(values[best]))}
        for p in v.pairs:
            if best not in (p.a, p.b):
                continue
            other, sign = (p.b, -1.0) if p.a == best else (p.a, 1.0)  # sign * (a - b) = other - best
            lo, hi = sorted((up * sign * p.g_low, up * sign * p.g_high))
            cells[other] = (up * sign * p.g, lo, hi, sign * p.diff * metric.scale, p.separated(alpha),
                            v.best.get(other), means[other], len(values[other]))
        for a in values:  # an activation with too few seeds to test still gets its mean
            cells.setdefault(a, (math.nan, math.nan, math.nan, (means[a] - means[best]) * metric.scale, False,
                                 v.best.get(a), means[a], len(values[a])))
        columns.append(Column(task, grid, str(folder.relative_to(suite_dir)), best, cells, v.sentence, metric))
    return columns


def _grid_order(grid: str):
    """Grid points in numeric order ('depth=4' before 'depth=16')."""
    out = []
    for part in grid.split(";"):
        key, _, value = part.partition("=")
        try:
            out.append((key, float(value), ""))
        except ValueError:
            out.append((key, math.inf, value))
    return out


def _best_probability(value) -> float:
    p = getattr(value, "p_best", value)
    return math.nan if p is None else float(p)


def _g_text(g: float) -> str:
    """g to two decimals; beyond +-10 (seeds that agree almost exactly, e.g. all at chance) as '<-10'."""
    if not math.isfinite(g):
        return "-"
    return f"{g:+.2f}" if abs(g) < 10 else ("<-10" if g < 0 else ">+10")


def _fill(g: float, scale: float) -> str:
    """The study page's pair colours (blue better, red worse, white 0); grey where g is undefined."""
    return shade(g, scale) if math.isfinite(g) else "#eef0f2"


def matrix(activations: Sequence[str], columns: Sequence[Column], *, chart_id: str = "suite-matrix") -> str:
    """An SVG matrix, rows activations, columns tasks: Hedges' g against the column's best (0 for the best,
    negative below it), a star where the difference survives Holm over the column's pairs."""
    gs = [abs(c.cells[a][0]) for c in columns for a in c.cells if math.isfinite(c.cells[a][0])]
    scale = min(max(gs), 3.0) if gs and max(gs) > 0 else 1.0
    size_w, size_h = 92, 34
    row_label = 7 * max(len(a) for a in activations) + 16
    col_label = 7 * max(len(c.title) for c in columns)
    left, top = row_label, 16 + 0.643 * col_label
    width = left + len(columns) * size_w + 0.766 * col_label + 10
    height = top + len(activations) * size_h + 10
    out = [f'<svg class="chart heatmap" viewBox="0 0 {width:.0f} {height:.0f}" role="img"{attr("id", chart_id)}'
           f'{attr("aria-label", "standardized difference from each task best")} style="max-width:{1.3 * width:.0f}px">']
    for j, c in enumerate(columns):
        x = left + j * size_w + size_w / 2
        out.append(f'<text class="tick" transform="translate({x:.1f} {top - 6:.1f}) rotate(-40)">{esc(c.title)}</text>')
    for i, a in enumerate(activations):
        y = top + i * size_h
        out.append(f'<text class="tick" x="{left - 6:.1f}" y="{y + size_h / 2 + 4:.1f}" text-anchor="end">{esc(a)}</text>')
        for j, c in enumerate(columns):
            x = left + j * size_w
            if a not in c.cells:
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{size_w}" height="{size_h}" fill="#eef0f2" '
                           f'stroke="#fff"><title>{esc(a)} on {esc(c.title)}: no finished run</title></rect>')
                continue
            g, lo, hi, diff, sep, pbest, mean, n = c.cells[a]
            is_best = a == c.best
            text = "best" if is_best else _g_text(g) + ("*" if sep else "")
            m = c.metric
            shown = f"{diff:+.2f} points" if m.percent else f"{diff:+.3g} {m.label}"
            tip = (f"{a} on {c.title}: mean test {m.label} {fmt(mean, 4)} over {n} seeds; "
                   + ("the best of the column" if is_best else
                      f"{shown} from {c.best}, Hedges' g {fmt(g, 3)} (95% CI [{fmt(lo, 3)}, {fmt(hi, 3)}]), "
                      + ("separated (Holm)" if sep else "not separated"))
                   + f"; P(best) {fmt(_best_probability(pbest), 2)}")
            frame = ' stroke="#111" stroke-width="3"' if sep else ' stroke="#fff"'
            weight = ' font-weight="700"' if sep or is_best else ""
            out.append(f'<g class="cell{" separated" if sep else ""}" data-task="{esc(c.title)}" data-activation="{esc(a)}" '
                       f'data-g="{g if math.isfinite(g) else ""}"><title>{esc(tip)}</title>'
                       f'<rect x="{x + 1.5:.1f}" y="{y + 1.5:.1f}" width="{size_w - 3}" height="{size_h - 3}" '
                       f'fill="{"#fff" if is_best else _fill(g, scale)}"{frame}/>'
                       f'<text x="{x + size_w / 2:.1f}" y="{y + size_h / 2 + 4:.1f}" text-anchor="middle" '
                       f'font-size="12"{weight}>{esc(text)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def column_table(c: Column) -> str:
    m = c.metric
    order = sorted(c.cells, key=lambda a: -m.oriented(c.cells[a][6]))
    diff = (lambda d: f"{d:+.2f}") if m.percent else (lambda d: f"{d:+.3g}")
    rows = [[a, fmt(c.cells[a][6], 4), c.cells[a][7], fmt(_best_probability(c.cells[a][5]), 2),
             "" if a == c.best else diff(c.cells[a][3]), "" if a == c.best else fmt(c.cells[a][0], 3),
             "yes" if c.cells[a][4] else ("" if a == c.best else "no")] for a in order]
    return table(["activation", f"mean test {m.short}", "seeds", "P(best)",
                  "points from best" if m.percent else f"{m.short} from best", "Hedges' g", "separated"], rows,
                 table_id=f"rank-{c.title.replace(' ', '-').replace(';', '-')}")


def _metrics_text(columns: Sequence[Column]) -> str:
    """'test accuracy', or for a matrix of several metrics 'each task's metric (test accuracy; test bits per
    character, lower is better)'."""
    metrics = list(dict.fromkeys(c.metric for c in columns))
    if metrics == [ACCURACY]:
        return "test accuracy"
    words = [f"test {m.label}" + ("" if m.higher_is_better else ", lower is better") for m in metrics]
    return words[0] if len(words) == 1 else f"each task's metric ({'; '.join(words)})"


def _units_text(columns: Sequence[Column]) -> str:
    units = list(dict.fromkeys("accuracy points" if c.metric.percent else c.metric.label for c in columns))
    return " or ".join(units)


def render(activations: Sequence[str], columns: Sequence[Column], command: str = "") -> str:
    tasks = list(dict.fromkeys(c.task for c in columns))
    folder = {c.task: c.folder for c in reversed(columns)}
    links = "".join(f'<li><a href="{esc(folder[t])}/report.html">{esc(t)}</a></li>' for t in tasks)
    body = ["<h1>Which activation, on which task?</h1>",
            "<p>Each cell: the activation's standardized difference (Hedges' g, paired over seeds where it can be) "
            f"from the column's best activation, in {_metrics_text(columns)} at each run's best validation epoch. "
            "Negative is worse; a star and dark frame mark a difference that survives Holm's correction over the "
            f"column's pairs; white is the best. Hover a cell for the difference in {_units_text(columns)}, its "
            "interval and P(best).</p>",
            matrix(activations, columns)]
    if command:
        body.append(f"<p>Command: <code>{esc(command)}</code></p>")
    body.append(f"<h2>Each task's report</h2><ul>{links}</ul>")
    for c in columns:
        body.append(f"<h2>{esc(c.title)}</h2><p class=\"verdict\">{esc(c.sentence)}</p>{column_table(c)}")
    return page("actlab suite", "".join(body), generator="actlab suite")


def write_suite_page(suite_dir, tasks: Mapping[str, Path], activations: Sequence[str],
                     command: str = "") -> Path:
    """Write ``suite_dir``/index.html from each task's study folder; returns its path."""
    suite_dir = Path(suite_dir)
    columns = [c for task, folder in tasks.items() for c in task_columns(task, Path(folder), suite_dir)]
    if not columns:
        raise ValueError(f"no finished run in any task of {suite_dir}; run 'actlab suite' to train them first")
    path = suite_dir / "index.html"
    with atomic_write(path) as tmp:
        Path(tmp).write_text(render(activations, columns, command))
    return path
