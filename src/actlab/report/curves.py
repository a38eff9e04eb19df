"""Function and derivative curves of catalog activations, for plots and sliders.

Every number comes from the activation's one definition, through the module
``actlab.get`` builds from it (its forward and ``.derivative``), evaluated
here in Python at build time.
The browser only picks one of these precomputed curves; it never evaluates
an activation itself.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from ..catalog import CLASSES
from ..catalog.spec import Activation, Param

X_RANGE = (-5.0, 5.0)
X_POINTS = 201
Y_CLIP = 12.0  # keeps the axes readable for fast-growing curves such as relu_squared


def x_grid(points: int = X_POINTS) -> np.ndarray:
    return np.linspace(*X_RANGE, points)


def evaluate(defn: Activation, params: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """f(x) and f'(x) in float64 from the activation's module (in evaluation mode) with these parameters.

    Raises ValueError or RuntimeError for a setting the module refuses (e.g.
    RReLU with lower > upper).
    """
    module = CLASSES[defn.name](**params).double().eval()
    t = torch.as_tensor(x, dtype=torch.float64)
    if defn.gated:  # a gated unit a * g(b) is shown by its gate, as its properties are
        with torch.no_grad():
            return module.gate(t).numpy(), module.gate_derivative(t).numpy()
    if defn.vector:
        # A vector activation is shown as the first component of the 2-vector (x, 0).
        t = torch.stack([t, torch.zeros_like(t)], dim=-1)
    with torch.no_grad():
        f = module(t)
        df = module.derivative(t)
    if defn.vector:
        f, df = f[..., 0], df[..., 0]
    return f.numpy().astype(np.float64), df.numpy().astype(np.float64)


# The live plot precomputes one curve per point of the sliders' joint grid, so
# the grid must stay small: a rational activation has ten coefficients (11^10
# curves). Beyond the first MAX_SLIDERS parameters the others stay at defaults.
MAX_SLIDERS = 2


def movable(defn: Activation) -> list[Param]:
    """Parameters a slider can move: numeric, part of the formula, with a numeric default (at most MAX_SLIDERS)."""
    return [p for p in defn.params
            if p.passed and p.kind is float and isinstance(p.default, (int, float))
            and not isinstance(p.default, bool)][:MAX_SLIDERS]


def param_values(p: Param, count: int, extra: tuple = ()) -> list[float]:
    """``count`` evenly spaced valid values inside the parameter's range, plus the default and ``extra``.

    An unbounded side extends the range by max(1, 2|default|) beyond the default;
    an open bound is approached but never reached.
    """
    span = max(1.0, 2.0 * abs(float(p.default)))
    lo = p.low if math.isfinite(p.low) else float(p.default) - span
    hi = p.high if math.isfinite(p.high) else float(p.default) + span
    step = (hi - lo) / (count - 1)
    if p.open_low:
        lo += step / 2
    if p.open_high:
        hi -= step / 2
    values = set(np.round(np.linspace(lo, hi, count), 6).tolist()) | {float(p.default)} | set(map(float, extra))
    valid = []
    for v in sorted(values):
        try:
            valid.append(float(p.validate("grid", v)))
        except ValueError:
            continue
    return valid


def _round(a: np.ndarray) -> list:
    """Four significant digits, clipped for display; non-finite values become None (JSON null)."""
    out = []
    for v in a.tolist():
        if not math.isfinite(v):
            out.append(None)
        else:
            v = max(-Y_CLIP * 10, min(Y_CLIP * 10, v))
            out.append(float(f"{v:.4g}"))
    return out


def _limits(arrays: list[np.ndarray]) -> list[float]:
    stacked = np.concatenate([a[np.isfinite(a)] for a in arrays] or [np.zeros(1)])
    lo, hi = float(np.clip(stacked.min(), -Y_CLIP, Y_CLIP)), float(np.clip(stacked.max(), -Y_CLIP, Y_CLIP))
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.06 * (hi - lo)
    return [round(lo - pad, 4), round(hi + pad, 4)]


def slider_data(defn: Activation, points: int = X_POINTS) -> dict:
    """Everything the live plot needs, as plain JSON-ready data.

    ``params``: one entry per slider (name, values, index of the default);
    ``f`` and ``df``: one curve per point of the parameter grid, in row-major
    order of ``params`` (the last parameter varies fastest), None where the
    module refuses that setting, with its reason in ``refused``; ``ylim_f`` and
    ``ylim_df``: fixed axes shared by all curves, so moving a slider shows the
    change rather than a rescaled picture.
    """
    sliders = movable(defn)
    per_param = 25 if len(sliders) <= 1 else 11
    grid = []
    for p in sliders:
        extra = tuple(s[p.name] for s in defn.settings if isinstance(s.get(p.name), (int, float)))
        values = param_values(p, per_param, extra)
        grid.append({"name": p.name, "doc": p.doc, "values": values,
                     "default": values.index(float(p.default))})
    x = x_grid(points)
    fs, dfs, refused = [], [], []
    for combo in itertools.product(*[g["values"] for g in grid]):
        try:
            f, df = evaluate(defn, {g["name"]: v for g, v in zip(grid, combo)}, x)
        except (ValueError, RuntimeError) as e:
            f = df = None
            refused.append(str(e).splitlines()[0])
        else:
            refused.append(None)
        fs.append(f)
        dfs.append(df)
    valid_f, valid_df = [a for a in fs if a is not None], [a for a in dfs if a is not None]
    return {"name": defn.name, "x": [round(v, 4) for v in x.tolist()], "params": grid,
            "f": [None if a is None else _round(a) for a in fs],
            "df": [None if a is None else _round(a) for a in dfs], "refused": refused,
            "ylim_f": _limits(valid_f), "ylim_df": _limits(valid_df)}


def default_curve(defn: Activation, points: int = 81) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, f(x), f'(x) at the default parameters (for thumbnails)."""
    x = x_grid(points)
    f, df = evaluate(defn, {}, x)
    return x, f, df
