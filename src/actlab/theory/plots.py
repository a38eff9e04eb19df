"""Figures for the theory: the phase diagram and the Jacobian spectrum."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..plots import style as styles
from ..plots.style import plt
from .phase import CHAOTIC, DIVERGING, PhaseDiagram


def plot_phase_diagram(diagram: PhaseDiagram, path: Optional[str | Path] = None, style: str = "light",
                       figsize: tuple[float, float] = (6.0, 4.2)):
    """Ordered / chaotic / diverging regions, contours of xi_c and the critical line; saved to ``path`` if given.

    Args:
        diagram: from :func:`~actlab.theory.phase_diagram` or :func:`~actlab.theory.fastgrid.fast_phase_diagram`.
        path: where to save it (120 dpi), if given.
        style: the plots' style, ``"light"`` or ``"dark"``.
        figsize: inches; the catalog pages use a small one.

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.colors import ListedColormap

    with styles.use(style):
        fig, ax = plt.subplots(figsize=figsize)
        w, b = diagram.sigma_w2, diagram.sigma_b2
        colors = ["#dbe9f6", "#f9dcc4", "#d9d9d9"] if style == "light" else ["#1d3550", "#5a3420", "#3a3a3a"]
        ax.pcolormesh(w, b, diagram.phase, cmap=ListedColormap(colors), vmin=0, vmax=2, shading="nearest")
        finite = np.where(np.isfinite(diagram.xi_c), diagram.xi_c, np.nan)
        if len(w) > 1 and len(b) > 1 and np.isfinite(finite).any():
            levels = [lv for lv in (1, 2, 5, 10, 20, 50) if np.nanmin(finite) < lv < np.nanmax(finite)]
            if levels:
                cs = ax.contour(w, b, finite, levels=levels, colors="#555555" if style == "light" else "#bbbbbb",
                                linewidths=0.8)
                ax.clabel(cs, fmt=lambda v: f"ξc={v:g}", fontsize=7)
        line = np.isfinite(diagram.critical)
        if line.any():
            ax.plot(diagram.critical[line], b[line], color="#111111" if style == "light" else "#f5f5f5",
                    lw=2, label="critical line (χ₁ = 1)")
            ax.legend(loc="upper left")
        for label, code, where in (("ordered", 0, "left"), ("chaotic", CHAOTIC, "right"), ("q* → ∞", DIVERGING, "right")):
            cells = np.argwhere(diagram.phase == code)
            if len(cells):
                i, j = cells[len(cells) // 2]
                ax.text(w[j], b[i], label, ha="center", va="center", fontsize=9)
        ax.set_xlabel("σ_w²  (weight variance × fan-in)")
        ax.set_ylabel("σ_b²  (bias variance)")
        ax.set_title(f"{diagram.name}: order-to-chaos phase diagram")
        ax.set_xlim(w.min(), w.max())
        ax.set_ylim(b.min(), b.max())
        if path is not None:
            fig.savefig(path, dpi=120)
    return fig


def plot_jacobian_spectrum(samples: dict, predicted: dict, title: str, path: Optional[str | Path] = None,
                           style: str = "light"):
    """Histograms of sampled squared singular values, one per weight kind, with the predicted mean marked.

    Args:
        samples: weight kind -> array of eigenvalues of J J^T.
        predicted: weight kind -> :class:`~actlab.theory.jacobian.Spectrum`.
    """
    with styles.use(style) as palette:
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        colors = {"gaussian": palette["f"], "orthogonal": palette["df"]}
        top = max(float(np.quantile(v, 0.99)) for v in samples.values())
        bins = np.linspace(0.0, max(top, 1e-12), 60)
        for kind, values in samples.items():
            spec = predicted[kind]
            ax.hist(np.clip(values, 0, top), bins=bins, alpha=0.5, color=colors[kind], density=True,
                    label=f"{kind}: sampled mean {values.mean():.3g}, var {values.var():.3g}; "
                          f"predicted {spec.mean:.3g}, {spec.variance:.3g}")
            ax.axvline(spec.mean, color=colors[kind], lw=1.2, ls="--")
        ax.set_xlabel("squared singular value of the input-output Jacobian")
        ax.set_ylabel("density")
        ax.set_title(title)
        ax.legend(loc="upper right")
        if path is not None:
            fig.savefig(path, dpi=120)
    return fig
