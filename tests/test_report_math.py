"""Formulas render to inline SVG with matplotlib's mathtext, offline, for every catalog entry."""
import re

import pytest

from actlab.catalog import DEFINITIONS
from actlab.report.mathsvg import MathError, formula_html, render, svg, to_mathtext

FORMULAS = [(name, which, getattr(d, which)) for name, d in DEFINITIONS.items() for which in ("formula", "dformula")]


@pytest.mark.parametrize("name,which,tex", FORMULAS, ids=[f"{n}-{w}" for n, w, _ in FORMULAS])
def test_every_catalog_formula_renders(name, which, tex):
    out = formula_html(tex)
    svgs = re.findall(r"<svg class=\"math\"[^>]*>.*?</svg>", out)
    assert svgs, f"{name}.{which} rendered nothing"
    for s in svgs:
        d = re.search(r'<path d="([^"]+)"', s).group(1)
        assert d.startswith("M") and len(d) > 40  # real glyph outlines, not an empty path
    cases = tex.count(r"\begin{cases}")
    assert out.count('class="cases"') == cases
    if cases:  # one row per case line of the LaTeX
        rows = sum(len([r for r in block.split(r"\\") if r.strip()])
                   for block in re.findall(r"\\begin\{cases\}(.*?)\\end\{cases\}", tex, re.S))
        assert out.count('class="case"') == rows


def test_rewrites_what_mathtext_lacks():
    assert to_mathtext(r"x \le 0 \ge \left( \tfrac12 + \tfrac{l+u}{2}") == \
        r"x \leq 0 \geq \left( \frac{1}{2} + \frac{l+u}{2}"
    assert to_mathtext(r"\leftarrow") == r"\leftarrow"  # only the whole command is rewritten


def test_size_grows_with_content_and_fraction_is_taller():
    short, long_ = render("x"), render("x + y + z + w")
    assert long_.width > 3 * short.width
    assert render(r"\frac{1}{1+e^{-x}}").height > 1.5 * render("x").height
    assert render("y").depth > 0  # descender below the baseline


def test_label_is_escaped_and_empty_input_gives_nothing():
    out = svg(r"a < b \quad \text{\"q\"}")
    assert 'aria-label="a &lt; b' in out and "<title>a &lt; b" in out
    assert svg("   ") == ""


def test_unrenderable_formula_is_a_clear_error():
    with pytest.raises(MathError, match=r"cannot render formula '\\\\frac\{1\}'"):
        render(r"\frac{1}")
