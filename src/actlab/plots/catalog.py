"""Figures of the catalog: one per activation, a gallery of all, an animated slideshow.

Every curve is the definition's own forward and analytic derivative
(through :func:`actlab.catalog.properties.evaluate`); kinks and extrema are
the computed ones from :mod:`actlab.catalog.properties`, so a figure shows
what the code does, not what a docstring claims.

docs/img/gallery.png comes from :func:`gallery`, regenerated together with
docs/catalog.md by ``python -m actlab.report.catalog_docs --docs docs/``.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from ..catalog import DEFINITIONS, label, parse
from ..catalog.properties import Properties, compute, evaluate, resolve
from ..catalog.spec import Activation, Param
from . import style as styles
from .style import plt

FORMATS = ("png", "svg")
FAMILY_SIZE = 5  # at most this many curves per parameter family
SAMPLES = 1201


def formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """Parse 'png,svg' (or a list) into checked file formats."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = tuple(dict.fromkeys(i.strip().lower().lstrip(".") for i in items if i.strip()))
    bad = [f for f in out if f not in FORMATS]
    if bad or not out:
        raise ValueError(f"unknown figure format(s) {', '.join(map(repr, bad)) or repr(text)}; "
                         f"expected a comma-separated list of {', '.join(FORMATS)}")
    return out


def file_stem(spec_string: str) -> str:
    """A file-name-safe form of a canonical label: 'elu:alpha=0.2' -> 'elu_alpha-0.2'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label(spec_string).replace("=", "-"))


def x_range(props: Properties) -> tuple[float, float]:
    """[-5, 5], widened to show every kink, extremum and dead-region edge with some margin."""
    marks = [*props.kinks, *(e.x for e in props.extrema),
             *(v for iv in props.dead for v in iv if math.isfinite(v))]
    lo = min([-5.0, *(m - 1.5 for m in marks)])
    hi = max([5.0, *(m + 1.5 for m in marks)])
    return max(lo, -20.0), min(hi, 20.0)


# --------------------------------------------------------------------------- #
# Parameter families
# --------------------------------------------------------------------------- #
def _family_param(spec: Activation) -> Optional[Param]:
    """The parameter whose family is drawn: the first numeric one that shapes the formula."""
    for p in spec.params:
        if p.passed and p.kind is float and isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            return p
    return None


def family(spec_string: str) -> tuple[Optional[str], list[dict]]:
    """(parameter name, settings) for the family plot of an activation.

    Values are the parameter's default, half and twice it, and every value the
    definition's ``settings`` name, kept where the parameter's range allows,
    at most ``FAMILY_SIZE`` of them. Other parameters stay as given.
    """
    spec, resolved, _ = resolve(spec_string, {})
    p = _family_param(spec)
    if p is None:
        return None, []
    current = resolved[p.name]
    if not isinstance(current, (int, float)):  # 'learnable': draw around the default
        current = p.default
    candidates = {float(current), float(p.default)}
    if p.default != 0:
        candidates |= {p.default / 2, p.default * 2}
    candidates |= {float(s[p.name]) for s in spec.settings if p.name in s}
    _, given = parse(spec_string)
    values = []
    for v in sorted(candidates):
        try:
            spec.resolve_params({**given, p.name: v})
        except ValueError:
            continue  # outside the range, or inconsistent with another parameter
        values.append(v)
    if len(values) > FAMILY_SIZE:  # keep the given value, spread the rest
        keep = {float(current)} | set(values[:: max(1, len(values) // (FAMILY_SIZE - 1))])
        values = sorted(keep)[:FAMILY_SIZE]
    if len(values) < 2:
        return None, []
    return p.name, [{**given, p.name: v} for v in values]


# --------------------------------------------------------------------------- #
# Drawing
# --------------------------------------------------------------------------- #
def _curves(spec_string: str, x: np.ndarray):
    """x, f, f' with NaN breaks at jumps so that lines are not drawn across them."""
    spec, _, kwargs = resolve(spec_string, {})
    props = compute(spec_string)
    # no samples on a jump itself: its value belongs to one side only
    x = x[np.all(np.abs(x[:, None] - np.array([[s.x for s in props.singular] or [np.inf]])) > 1e-9, axis=1)]
    f, d = evaluate(spec, kwargs, x)
    xf, xd = x.copy(), x.copy()
    for s in sorted(props.singular, key=lambda s: -s.x):
        i = int(np.searchsorted(x, s.x))
        if 0 < i < x.size:
            if s.order == 0:
                xf, f = np.insert(xf, i, np.nan), np.insert(f, i, np.nan)
            if s.order <= 1:
                xd, d = np.insert(xd, i, np.nan), np.insert(d, i, np.nan)
    return (xf, f), (xd, d)


def _spec_string(name: str, params: dict) -> str:
    return name + "".join(f":{k}={v}" for k, v in params.items())


def draw(ax_f, ax_d, spec_string: str, palette: dict, show_family: bool = True, compact: bool = False):
    """Draw f on ``ax_f`` and f' on ``ax_d`` (the same axes for both is allowed: f' is dashed)."""
    props = compute(spec_string)
    lo, hi = x_range(props)
    x = np.linspace(lo, hi, SAMPLES // 3 if compact else SAMPLES)
    gated = DEFINITIONS[props.name].gated  # drawn as its gate g(b), with a family over a instead of a parameter
    pname, settings = family(spec_string) if show_family and not gated else (None, [])
    current = props.params.get(pname)
    drawn_f, drawn_d = [], []  # every curve, for the y-limits
    if settings:
        cmap = plt.get_cmap(palette["family"])
        for k, s in enumerate(settings):
            if s[pname] == current:
                continue
            colour = cmap(0.15 + 0.7 * k / max(1, len(settings) - 1))
            (xf, f), (xd, d) = _curves(_spec_string(props.name, s), x)
            drawn_f.append(f)
            drawn_d.append(d)
            ax_f.plot(xf, f, color=colour, lw=1.0, alpha=0.9, label=f"{pname}={s[pname]:g}")
            ax_d.plot(xd, d, color=colour, lw=1.0, alpha=0.9, ls="--" if ax_d is ax_f else "-")
    (xf, f), (xd, d) = _curves(spec_string, x)
    width = 1.4 if compact else 2.0
    main = f"{pname}={current:g}" if settings and isinstance(current, (int, float)) else "f(x)"
    ax_f.plot(xf, f, color=palette["f"], lw=width, label="a=1: g(b)" if gated else main, zorder=3, gid="f")
    ax_d.plot(xd, d, color=palette["df"], lw=width, ls="--" if ax_d is ax_f else "-",
              label="a=1: g'(b)" if gated else None if settings else "f'(x)", zorder=3, gid="df")
    if gated and show_family and not compact:
        _gate_family(ax_f, ax_d, (xf, f), (xd, d), palette, drawn_f, drawn_d)
    for ax in {ax_f, ax_d}:
        ax.axhline(0, color=palette["axis"], lw=0.6, zorder=1)
        ax.axvline(0, color=palette["axis"], lw=0.6, zorder=1)
        ax.set_xlim(lo, hi)
        for k in props.kinks:
            ax.axvline(k, color=palette["kink"], lw=0.9, ls=":", zorder=2)
    for e in props.extrema:
        ax_f.plot([e.x], [e.value], "o", color=palette["extremum"], ms=4 if compact else 5, zorder=4)
        if not compact:
            ax_f.annotate(f"{e.kind} ({e.x:.4g}, {e.value:.4g})", (e.x, e.value), textcoords="offset points",
                          xytext=(6, -12), fontsize=8, color=palette["extremum"])
    if compact:
        return
    _limit_y(ax_f, np.concatenate([f, *drawn_f]))
    _limit_y(ax_d, np.concatenate([d, *drawn_d]))
    ax_f.set_title("f = a g(b)" if gated else "f(x)")
    ax_d.set_title("df/db = a g'(b)" if gated else "f'(x)")
    ax_f.set_xlabel("b" if gated else "x")
    ax_d.set_xlabel("b" if gated else "x")
    if props.kinks:
        ax_d.plot([], [], color=palette["kink"], lw=0.9, ls=":", label="kink / jump")
    ax_f.legend(loc="upper left")
    if ax_d.get_legend_handles_labels()[0]:
        ax_d.legend(loc="upper left")


GATE_FAMILY = (-1.0, 0.5, 2.0)  # values of the ungated half a drawn beside a = 1


def _gate_family(ax_f, ax_d, curve_f, curve_d, palette: dict, drawn_f: list, drawn_d: list):
    """A gated unit's f = a g(b) and df/db = a g'(b) over b for a few a: how the first half scales the gate."""
    cmap = plt.get_cmap(palette["family"])
    (xf, f), (xd, d) = curve_f, curve_d
    for k, a in enumerate(GATE_FAMILY):
        colour = cmap(0.15 + 0.7 * k / (len(GATE_FAMILY) - 1))
        drawn_f.append(a * f)
        drawn_d.append(a * d)
        ax_f.plot(xf, a * f, color=colour, lw=1.0, alpha=0.9, label=f"a={a:g}")
        ax_d.plot(xd, a * d, color=colour, lw=1.0, alpha=0.9, ls="--" if ax_d is ax_f else "-")


def _limit_y(ax, values):
    """Keep fast-growing curves (squared ReLU) from flattening everything else."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    lo, hi = np.percentile(finite, [0.5, 99.5])
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)


def _title(spec_string: str) -> str:
    props = compute(spec_string)
    text = f"{DEFINITIONS[props.name].title}  [{props.label}]"
    return text + (f"\n({props.note})" if props.note else "")


def activation_figure(spec_string: str, style: str = "light", show_family: bool = True):
    """A figure with f(x) and f'(x) side by side, family curves, kinks and extrema marked."""
    with styles.use(style) as palette:
        fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(10, 4))
        draw(ax_f, ax_d, spec_string, palette, show_family=show_family)
        fig.suptitle(_title(spec_string))
        fig.tight_layout()
    return fig


def save(fig, base: Path, fmts: Iterable[str], dpi: int, style: str) -> list[Path]:
    """Write ``fig`` as base.<fmt> for each format, then close it."""
    paths = []
    with styles.use(style):
        for fmt in fmts:
            path = base.parent / f"{base.name}.{fmt}"  # not with_suffix: labels contain dots
            fig.savefig(path, dpi=dpi)
            paths.append(path)
    plt.close(fig)
    return paths


def plot_activations(spec_strings: Iterable[str], out: Path, style: str = "light",
                     fmts: Iterable[str] = ("png",), dpi: int = 110) -> list[Path]:
    """One figure per activation (function and derivative), named after its label."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fmts = formats(list(fmts))
    paths = []
    for s in spec_strings:
        paths += save(activation_figure(s, style), out / file_stem(s), fmts, dpi, style)
    return paths


def gallery(spec_strings: Sequence[str], base: Path, style: str = "light", fmts: Iterable[str] = ("png",),
            dpi: int = 110, columns: int = 6) -> list[Path]:
    """A grid of every activation: f solid, f' dashed, kinks dotted, extrema as dots."""
    n = len(spec_strings)
    rows = max(1, math.ceil(n / columns))
    cols = min(columns, n)
    with styles.use(style) as palette:
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False)
        for ax, s in zip(axes.flat, spec_strings):
            draw(ax, ax, s, palette, show_family=False, compact=True)
            ax.set_title(compute(s).label, fontsize=9)
            ax.tick_params(labelsize=7)
            ax.set_ylim(-2.2, 3.2)
        for ax in axes.flat[n:]:
            ax.axis("off")
        fig.suptitle("actlab activations: f(x) solid, f'(x) dashed", fontsize=12)
        # fixed margins: tight_layout on dozens of axes costs seconds and gains nothing here
        fig.subplots_adjust(left=0.04, right=0.99, bottom=0.04, top=1 - 0.5 / (2.2 * rows),
                            wspace=0.28, hspace=0.5)
    Path(base).parent.mkdir(parents=True, exist_ok=True)
    return save(fig, Path(base), formats(list(fmts)), dpi, style)


def slideshow(spec_strings: Sequence[str], path: Path, style: str = "light", dpi: int = 80,
              seconds_per_slide: float = 1.5) -> Path:
    """An animated GIF with one slide per activation (the same two panels as its figure)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    path = Path(path).with_suffix(".gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    with styles.use(style) as palette:
        fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(9, 3.8))

        def frame(i):
            ax_f.clear()
            ax_d.clear()
            draw(ax_f, ax_d, spec_strings[i], palette)
            fig.suptitle(_title(spec_strings[i]))
            fig.tight_layout()
            return []

        anim = FuncAnimation(fig, frame, frames=len(spec_strings), blit=False)
        anim.save(str(path), writer=PillowWriter(fps=1 / seconds_per_slide), dpi=dpi)
    plt.close(fig)
    return path

