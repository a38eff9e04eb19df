"""The fit task's figure: the target and each activation's fitted function, with the training box marked."""
from __future__ import annotations

from .html import esc
from .svgchart import Series, color, legend, line_chart


def fit_section(curves: dict, inner: float, *, chart_id: str = "fit", title: str = "") -> str:
    """An HTML section from :func:`actlab.tasks.fit.fitted_curves`: the target dashed, one line per
    activation; the training box ``|x| <= inner`` is shown by two vertical grey lines."""
    x = curves["x"]
    names = [k for k in curves if k not in ("x", "target")]
    series = [Series("target", x, curves["target"], "#000000", dashed=True)]
    series += [Series(n, x, curves[n], color(i)) for i, n in enumerate(names)]
    low = min(curves["target"])
    high = max(curves["target"])
    span = high - low or 1.0
    ylim = (low - 0.5 * span, high + 0.5 * span)  # wild extrapolations leave the frame instead of flattening it
    series += [Series("training box", [b, b], list(ylim), "#7f7f7f", dashed=True) for b in (-inner, inner)]
    chart = line_chart(series, chart_id=chart_id, title=title, xlabel="x", ylabel="f(x)", ylim=ylim)
    return (f'<section id="{esc(chart_id)}-section"><h2>Fitted functions</h2>{chart}{legend(series[:-1])}'
            "<p>Dashed black: the target; grey lines: the training box; outside it the networks extrapolate.</p>"
            "</section>")
