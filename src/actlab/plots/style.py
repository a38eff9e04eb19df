"""Light and dark looks for every actlab figure.

A style is a set of matplotlib rc settings plus a palette of named colours;
both were chosen so that curves, markers and text stay readable on their
background (the dark palette uses lighter, less saturated hues).
"""
from __future__ import annotations

from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

import matplotlib.pyplot as plt  # noqa: E402

STYLES = ("light", "dark")

_BASE = {
    "axes.grid": True,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "axes.titlesize": 11,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",  # keep text as text in SVG
}

_RC = {
    "light": {"figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
              "axes.edgecolor": "#444444", "axes.labelcolor": "#222222", "text.color": "#222222",
              "xtick.color": "#444444", "ytick.color": "#444444", "grid.color": "#dddddd"},
    "dark": {"figure.facecolor": "#14161a", "axes.facecolor": "#14161a", "savefig.facecolor": "#14161a",
             "axes.edgecolor": "#aaaaaa", "axes.labelcolor": "#e8e8e8", "text.color": "#e8e8e8",
             "xtick.color": "#bbbbbb", "ytick.color": "#bbbbbb", "grid.color": "#33373d"},
}

PALETTES = {
    "light": {"f": "#1f5fa8", "df": "#c0392b", "kink": "#7f7f7f", "extremum": "#111111",
              "axis": "#999999", "family": "viridis"},
    "dark": {"f": "#6cb6ff", "df": "#ff8a7a", "kink": "#9a9a9a", "extremum": "#f5f5f5",
             "axis": "#666666", "family": "plasma"},
}


def check(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown plot style {style!r}; expected one of {', '.join(STYLES)}")
    return style


@contextmanager
def use(style: str):
    """Apply ``style`` to figures made inside the block; yields its palette."""
    with plt.rc_context({**_BASE, **_RC[check(style)]}):
        yield PALETTES[style]
