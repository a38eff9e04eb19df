"""Regenerate the generated parts of docs/theory.md: the initialisation table and the tanh phase diagram.

    .venv/bin/python tools/theory_docs.py     # about 8 minutes on 2 busy cores

The table sits between the markers ``<!-- init-table:start -->`` and
``<!-- init-table:end -->``; every number in it is computed here from the
catalog's definitions, none typed by hand.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch

import actlab
from actlab import theory
from actlab.models.init import he_gain

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "theory.md"
IMAGE = ROOT / "docs" / "img" / "theory-phase-tanh.png"
BIASES = (0.0, 0.05, 0.2, 0.5)  # where to look for an edge of chaos when sigma_b2 = 0 has none
# torch.nn.init.calculate_gain's names for catalog activations (it knows no others)
TORCH_NAMES = {"identity": "linear", "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu",
               "leaky_relu": "leaky_relu", "selu": "selu"}


def _chi(name: str, sigma_w2: float) -> str:
    q = theory.fixed_point(name, sigma_w2, 0.0)
    chi = theory.chi1(name, sigma_w2, 0.0)
    text = "inf" if math.isinf(chi) else f"{chi:.3f}"
    return text + (" (q*=inf)" if math.isinf(q) else " (q*=0)" if q == 0 else "")


def _critical(name: str) -> tuple[str, str]:
    for b in BIASES:
        try:
            w = theory.critical_sigma_w2(name, b)
        except theory.NoCriticalPoint:
            continue
        where = "" if b == 0 else f" at σ_b²={b:g}"
        return f"{w:.4f}{where}", f"{math.sqrt(w):.4f}"
    return f"none for σ_b² ≤ {BIASES[-1]:g}", "—"


def init_table() -> str:
    """The markdown table: critical gain vs PyTorch's gain, He and LeCun/Glorot, with chi_1 of each."""
    rows = ["| activation | critical σ_w² | critical gain | `calculate_gain` | χ₁ at `calculate_gain` "
            "| χ₁ He (actlab) | χ₁ LeCun = Glorot (square) |",
            "|---|---|---|---|---|---|---|"]
    for name in actlab.names():
        if not theory.is_elementwise(name):
            continue
        critical, gain = _critical(name)
        torch_name = TORCH_NAMES.get(name)
        if torch_name:
            g = torch.nn.init.calculate_gain(torch_name, 0.01 if torch_name == "leaky_relu" else None)
            torch_gain, torch_chi = f"{g:.4f}", _chi(name, g * g)
        else:
            torch_gain, torch_chi = "—", "—"
        rows.append(f"| {name} | {critical} | {gain} | {torch_gain} | {torch_chi} | {_chi(name, he_gain(name) ** 2)} "
                    f"| {_chi(name, 1.0)} |")
    return "\n".join(rows)


def main() -> None:
    from actlab.theory.plots import plot_phase_diagram

    text = DOC.read_text()
    table = init_table()
    new = re.sub(r"(<!-- init-table:start -->\n).*?(<!-- init-table:end -->)",
                 lambda m: m.group(1) + table + "\n" + m.group(2), text, flags=re.S)
    DOC.write_text(new)
    IMAGE.parent.mkdir(parents=True, exist_ok=True)
    plot_phase_diagram(theory.phase_diagram("tanh"), IMAGE)
    print(f"wrote {DOC} and {IMAGE}")


if __name__ == "__main__":
    main()
