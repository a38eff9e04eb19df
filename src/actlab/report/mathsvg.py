r"""LaTeX formulas as inline SVG, rendered at build time with matplotlib's mathtext.

No math library is shipped to the browser: each formula becomes one SVG
``<path>`` (the glyph outlines), so pages render identically offline and
without fonts. mathtext covers most of the catalog's LaTeX; the few
constructs it lacks are rewritten first (``\le`` -> ``\leq``, ``\tfrac`` ->
``\frac``), and ``\begin{cases}`` is laid out in HTML as a brace with one
row per case, each cell rendered separately.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

import matplotlib
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath

SIZE = 10.0  # font size in path units; 10 units = 1em on the page

_REWRITES = (
    (re.compile(r"\\tfrac\s*(\d)\s*(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\[td]frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\le(?![a-zA-Z])"), r"\\leq"),
    (re.compile(r"\\ge(?![a-zA-Z])"), r"\\geq"),
)
_CASES = re.compile(r"\\begin\{cases\}(.*?)\\end\{cases\}", re.S)


class MathError(ValueError):
    """A formula that mathtext cannot render, even after rewriting."""


def to_mathtext(tex: str) -> str:
    """Rewrite LaTeX that mathtext lacks into equivalents it supports."""
    for pattern, repl in _REWRITES:
        tex = pattern.sub(repl, tex)
    return tex


@dataclass(frozen=True)
class Glyphs:
    """The outline of one rendered formula, in path units with y pointing down."""

    d: str
    x0: float
    top: float
    width: float
    height: float
    depth: float  # how far the formula reaches below its baseline


def render(tex: str) -> Glyphs:
    """Outline ``tex`` (without ``$``) with the Computer Modern math fonts."""
    source = to_mathtext(tex).strip()
    if not source:
        return Glyphs("", 0.0, 0.0, 0.0, 0.0, 0.0)
    try:
        with matplotlib.rc_context({"mathtext.fontset": "cm"}):
            path = TextPath((0, 0), f"${source}$", size=SIZE)
    except ValueError as e:
        raise MathError(f"cannot render formula {tex!r}: {str(e).strip().splitlines()[-1]}") from None
    # The control points bound the outline; exact Bezier extents cost 10x more and gain nothing visible.
    (x0, y0), (x1, y1) = path.vertices.min(axis=0), path.vertices.max(axis=0)
    return Glyphs(_path_data(path), float(x0), float(-y1), float(x1 - x0), float(y1 - y0), max(0.0, float(-y0)))


def _path_data(path: MplPath) -> str:
    # Flip y: matplotlib's y points up, SVG's down.
    letters = {MplPath.MOVETO: "M", MplPath.LINETO: "L", MplPath.CURVE3: "Q", MplPath.CURVE4: "C"}
    parts = []
    for vertices, code in path.iter_segments(simplify=False, curves=True):
        if code == MplPath.CLOSEPOLY:
            parts.append("Z")
            continue
        pts = " ".join(f"{x:.1f} {-y:.1f}" for x, y in vertices.reshape(-1, 2))
        parts.append(letters[code] + pts)
    return "".join(parts)


def svg(tex: str) -> str:
    """One inline ``<svg>`` for ``tex``, sized in em and sitting on the text baseline."""
    g = render(tex)
    if not g.d:
        return ""
    pad = 0.5
    label = html.escape(tex, quote=True)
    return (
        f'<svg class="math" role="img" aria-label="{label}" '
        f'viewBox="{g.x0 - pad:.2f} {g.top - pad:.2f} {g.width + 2 * pad:.2f} {g.height + 2 * pad:.2f}" '
        f'style="width:{(g.width + 2 * pad) / SIZE:.3f}em;height:{(g.height + 2 * pad) / SIZE:.3f}em;'
        f'vertical-align:{-(g.depth + pad) / SIZE:.3f}em">'
        f"<title>{html.escape(tex)}</title><path d=\"{g.d}\"/></svg>"
    )


def formula_html(tex: str) -> str:
    """HTML for a whole formula: inline SVG, with each ``cases`` block as a braced table."""
    out = []
    pos = 0
    for m in _CASES.finditer(tex):
        out.append(svg(tex[pos:m.start()]))
        rows = []
        for row in re.split(r"\\\\", m.group(1)):
            if not row.strip():
                continue
            cells = row.split("&", 1)
            value = svg(cells[0])
            cond = svg(cells[1]) if len(cells) > 1 else ""
            rows.append(f'<span class="case"><span class="case-value">{value}</span>'
                        f'<span class="case-cond">{cond}</span></span>')
        out.append(f'<span class="cases">{"".join(rows)}</span>')
        pos = m.end()
    out.append(svg(tex[pos:]))
    return f'<span class="formula" data-tex="{html.escape(tex, quote=True)}">{"".join(out)}</span>'
