r"""The ``fit`` task: regression of 1-D and 2-D functions on a grid, with a region left out for extrapolation.

A network ``R^d -> R`` (the plain MLP: ``depth`` layers of ``width`` units
and the compared activation, no dropout, the catalog's initialisation) is
fitted by full-batch Adam to a target sampled on a grid inside the training
box; the error is then measured on held-out grid points inside the box
(interpolation, ``in_range``) and on a grid in the surrounding region the
network never saw (extrapolation, ``out_of_range``). This is where
activations differ in kind rather than degree: a ReLU network is piecewise
linear, so beyond its last kink it continues on a straight line; a tanh or
sigmoid network saturates to a constant; a periodic activation (Snake,
Ziyin, Hartwig and Ueda, NeurIPS 2020) can continue a periodic target.

Targets (:data:`TARGETS`):

- ``sine``: :math:`\sin x`, trained on :math:`|x| \le 2\pi`, extrapolated on
  :math:`2\pi < |x| \le 4\pi`.
- ``gauss``: :math:`e^{-x^2/2}`, trained on :math:`|x| \le 3`, extrapolated on
  :math:`3 < |x| \le 6` (a smooth, non-periodic bump whose tails go to 0).
- ``ripple2d``: :math:`\sin x \cos y`, trained on the square
  :math:`|x|, |y| \le \pi`, extrapolated on the ring up to :math:`1.5\pi`.

Metric: root mean squared error, lower is better. Runs as a library
(:func:`train_fit`) and in ``actlab compare --task fit`` (the dataset
``grid``: :class:`GridSplits`, generated, no files; the engine's regression
objective is :mod:`actlab.compare.objectives_fit`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..models import build_model


@dataclass(frozen=True)
class Target:
    """A function to fit: its formula, input dimension, training box half-width and extrapolation half-width."""

    name: str
    formula: str
    dim: int
    inner: float  # training box: |x_i| <= inner
    outer: float  # extrapolation region: inner < max |x_i| <= outer
    f: Callable[[torch.Tensor], torch.Tensor]


TARGETS = {t.name: t for t in (
    Target("sine", "sin(x)", 1, 2 * math.pi, 4 * math.pi, lambda x: torch.sin(x[:, 0])),
    Target("gauss", "exp(-x^2/2)", 1, 3.0, 6.0, lambda x: torch.exp(-x[:, 0] ** 2 / 2)),
    Target("ripple2d", "sin(x) cos(y)", 2, math.pi, 1.5 * math.pi,
           lambda x: torch.sin(x[:, 0]) * torch.cos(x[:, 1])),
)}


@dataclass
class FitData:
    """Inputs [N, d] and targets [N] (float32): training and validation points inside the box (alternate
    grid points), ``test_in`` a finer grid inside, ``test_out`` the same grid spacing outside it."""

    target: Target
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_in_x: torch.Tensor
    test_in_y: torch.Tensor
    test_out_x: torch.Tensor
    test_out_y: torch.Tensor


def _grid(dim: int, half: float, points: int) -> torch.Tensor:
    axis = torch.linspace(-half, half, points, dtype=torch.float64)
    mesh = torch.meshgrid(*([axis] * dim), indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1)


def fit_data(target: str, points: int = 0) -> FitData:
    """The grids of ``target`` (a name in :data:`TARGETS`); ``points`` per axis inside the box (default: 200
    in 1-D, 40 in 2-D). Even grid points train, odd ones validate; the test grids are offset by half a step.

    Examples:
        >>> d = fit_data("sine")
        >>> d.train_x.shape, d.test_out_x.abs().max().item() > d.target.inner
        (torch.Size([100, 1]), True)
    """
    if target not in TARGETS:
        raise ValueError(f"unknown fit target {target!r}; expected one of {', '.join(TARGETS)}")
    t = TARGETS[target]
    n = points or (200 if t.dim == 1 else 40)
    inside = _grid(t.dim, t.inner, n)
    step = 2 * t.inner / (n - 1)
    n_out = int(round(2 * t.outer / step)) + 1
    outer = _grid(t.dim, t.outer, n_out) + step / 2  # offset: no test point is a training point
    beyond = outer.abs().amax(dim=1)
    test_in = outer[beyond <= t.inner - step / 2]
    test_out = outer[(beyond > t.inner) & (beyond <= t.outer)]
    train, val = inside[0::2], inside[1::2]

    def pair(x):
        return x.to(torch.float32), t.f(x).to(torch.float32)

    return FitData(t, *pair(train), *pair(val), *pair(test_in), *pair(test_out))


@dataclass
class FitResult:
    """RMSE of the fitted network: ``train``, ``val`` (alternate grid points), ``in_range`` and
    ``out_of_range`` (the test grids), and the network itself."""

    activation: str
    target: str
    train: float
    val: float
    in_range: float
    out_of_range: float
    model: torch.nn.Module


def _rmse(model, x, y) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(x).squeeze(1) - y) ** 2)))


def train_fit(data: FitData, activation: str, *, seed: int = 0, steps: int = 2000, lr: float = 3e-3,
              depth: int = 3, width: int = 64, init: str = "auto") -> FitResult:
    """Fit ``data`` with a plain MLP of ``activation``: full-batch Adam, ``steps`` steps, mean squared error.

    Deterministic for a seed on CPU (the weights come from the seed; full batches draw nothing else).
    """
    model = build_model("plain-mlp", activation, in_shape=(data.target.dim,), num_classes=1, depth=depth,
                        width=width, init=init, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = data.train_x, data.train_y
    for _ in range(steps):
        loss = torch.mean((model(x).squeeze(1) - y) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    return FitResult(activation, data.target.name, _rmse(model, x, y), _rmse(model, data.val_x, data.val_y),
                     _rmse(model, data.test_in_x, data.test_in_y), _rmse(model, data.test_out_x, data.test_out_y),
                     model)


def fitted_curves(data: FitData, results: list[FitResult], points: int = 400) -> dict:
    """For a 1-D target: x from -outer to outer and the target's and each result's values there (lists),
    keyed 'x', 'target' and each result's activation: what a plot of the fitted functions draws."""
    t = data.target
    if t.dim != 1:
        raise ValueError(f"fitted_curves draws 1-D targets; {t.name!r} has {t.dim} inputs")
    x = torch.linspace(-t.outer, t.outer, points).unsqueeze(1)
    out = {"x": x[:, 0].tolist(), "target": t.f(x.double()).float().tolist()}
    with torch.no_grad():
        for r in results:
            out[r.activation] = r.model(x).squeeze(1).tolist()
    return out


def outside_split(data: FitData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The extrapolation grid split in two disjoint halves, alternate points: (val_x, val_y, test_x, test_y).

    A study selects its epoch on the first half and reports the second, so
    the reported out-of-range error is measured on points no choice saw.

    Examples:
        >>> vx, vy, tx, ty = outside_split(fit_data("sine"))
        >>> vx.shape[0] + tx.shape[0] == fit_data("sine").test_out_x.shape[0]
        True
    """
    x, y = data.test_out_x, data.test_out_y
    return x[0::2], y[0::2], x[1::2], y[1::2]


GRID = "grid"  # the dataset name of the generated grids in ``actlab compare``


@dataclass
class GridSplits:
    """The fit task's data in a study: every target's grids, generated (no files).

    ``target(name)`` gives a target's :class:`FitData`; ``train_y``, ``val_y``
    and ``test_y`` hold the points of all targets together (the counts a
    study's config.json shows; per target in ``provenance["targets"]``).
    """

    dataset: str = GRID
    targets: dict = field(default_factory=lambda: {name: fit_data(name) for name in TARGETS})

    def target(self, name: str) -> FitData:
        if name not in self.targets:
            raise ValueError(f"unknown fit target {name!r}; expected one of {', '.join(TARGETS)} "
                             "(e.g. --grid target=sine|gauss)")
        return self.targets[name]

    def _all(self, part: str) -> torch.Tensor:
        return torch.cat([getattr(d, part) for d in self.targets.values()])

    @property
    def train_y(self) -> torch.Tensor:
        return self._all("train_y")

    @property
    def val_y(self) -> torch.Tensor:
        return self._all("val_y")

    @property
    def test_y(self) -> torch.Tensor:
        return torch.cat([self._all("test_in_y"), self._all("test_out_y")])

    @property
    def classes(self) -> list:
        return []

    def describe(self) -> str:
        """One line on what a study trains on (``actlab compare`` prints it before training)."""
        parts = [f"{name} ({d.target.formula}: {len(d.train_y):,} train points in |x| <= {d.target.inner:.3g}, "
                 f"{len(d.val_y) + len(d.test_in_y):,} more inside, {len(d.test_out_y):,} outside up to "
                 f"{d.target.outer:.3g})" for name, d in self.targets.items()]
        return f"data: {self.dataset}: generated targets, no files: " + "; ".join(parts)

    @property
    def provenance(self) -> dict:
        counts = {name: {"train": len(d.train_y), "val_in": len(d.val_y), "test_in": len(d.test_in_y),
                         "out": len(d.test_out_y), "formula": d.target.formula, "box": d.target.inner,
                         "outer": d.target.outer} for name, d in self.targets.items()}
        return {"dataset": GRID, "source": "generated by actlab.tasks.fit (no files)", "files": {},
                "targets": counts}
