"""The order-to-chaos phase panel of each catalog page (issue 14), and why some activations have none.

The panel is :func:`actlab.theory.plots.plot_phase_diagram` of the grid from
:func:`actlab.theory.fastgrid.fast_phase_diagram` (24 x 11 points over
sigma_w2 in [0.25, 4], sigma_b2 in [0, 0.5]; well under a second per
activation), drawn small and embedded as a data: URL so the site stays one
offline folder. Vector-valued and gated units get one sentence instead: the
mean-field maps assume each unit applies phi to its own pre-activation.
"""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Optional

from ..catalog import DEFINITIONS
from .html import esc

PANEL_SIZE = (4.8, 3.4)  # inches; 80 dpi on the site gives a 384 x 272 px image
PANEL_DPI = 80


def has_phase_diagram(name: str) -> bool:
    """True when the mean-field theory applies to ``name`` (canonical): it is elementwise."""
    d = DEFINITIONS[name]
    return not (d.vector or getattr(d, "gated", False))


def why_none(name: str) -> str:
    """The sentence shown instead of the panel for a vector-valued or gated unit."""
    how = ("gates one half of its input with the other half" if getattr(DEFINITIONS[name], "gated", False)
           else "mixes the units of a vector")
    return (f"No phase diagram: {name} {how}, and the mean-field maps behind the diagram assume each unit "
            "applies one function to its own pre-activation (Poole et al. 2016), so the theory does not apply.")


def _figure(name: str):
    from ..theory.fastgrid import fast_phase_diagram
    from ..theory.plots import plot_phase_diagram

    return plot_phase_diagram(fast_phase_diagram(name), figsize=PANEL_SIZE)


def phase_png(name: str) -> str:
    """The small phase panel of elementwise ``name`` as a ``data:image/png`` URL."""
    from ..plots.style import plt, use

    fig = _figure(name)
    buf = io.BytesIO()
    with use("light"):
        fig.savefig(buf, format="png", dpi=PANEL_DPI)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def save_phase_png(name: str, path: Path) -> Path:
    """Write the small phase panel of elementwise ``name`` to ``path`` (for docs/img); returns the path."""
    from ..plots.style import plt, use

    fig = _figure(name)
    with use("light"):
        fig.savefig(path, dpi=PANEL_DPI)
    plt.close(fig)
    return Path(path)


def phase_section(name: str, image: Optional[str]) -> str:
    """The page's "Signal propagation" section: the panel (``image``, a data: URL), or why there is none.

    ``image`` is None for an elementwise activation when the site is built
    without figures; the section then says so.
    """
    head = "<h2>Signal propagation at initialisation</h2>"
    if not has_phase_diagram(name):
        return head + f'<p class="muted" id="phase-none">{esc(why_none(name))}</p>'
    text = ('<p class="muted">Mean-field theory of a wide random network with this activation: ordered '
            "(gradients vanish), chaotic (gradients explode) or diverging (q* = ∞) for each weight variance "
            "σ_w² and bias variance σ_b²; the line is the edge of chaos χ₁ = 1, the contours the correlation "
            "depth ξc (networks train to about 6 ξc). <code>actlab theory "
            f"{esc(name)} --phase-diagram</code> draws it exactly; see docs/theory.md.</p>")
    if image is None:
        return head + text + '<p class="muted" id="phase-left-out">Panel left out (built with --no-figures).</p>'
    return head + text + (f'<img class="figure" id="phase" src="{image}" '
                          f'alt="order-to-chaos phase diagram of {esc(name)}">')
