r"""The regression objective: the fit task's function fitting, trained by the compare engine.

The targets, grids and curves are :mod:`actlab.tasks.fit`'s; this module
says what an *epoch* is (``steps`` full-batch steps on the training grid, as
:func:`~actlab.tasks.fit.train_fit` takes them) and what each number of an
``EpochRecord`` holds:

- ``train_loss``: the mean squared error averaged over the epoch's steps;
  ``train_acc``: its square root (RMSE on the training points);
- ``val_loss``, ``val_acc``: mean squared error and RMSE on the validation
  half of the extrapolation grid (outside the training box);
- ``test_loss``, ``test_acc``: the same on its other half (alternate points,
  :func:`~actlab.tasks.fit.outside_split`): the epoch a study selects (the
  lowest validation loss) never saw them.

Inside the box the RMSE is recorded too, as extra rows of the epoch
(``EpochRecord.layers``, stored in ``layer_stats``): layer ``fit``, metrics
``val_rmse_in`` (the held-out odd grid points) and ``test_rmse_in`` (the
offset grid). At the last epoch of a 1-D target the fitted function is
sampled for the report's figure: layers ``fit:curve:NNN`` with metrics
``x``, ``y`` (the network) and ``target``, and layer ``fit:box`` with
``inner`` (the training box's half-width).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import torch

from ..models import build_model
from ..tasks.fit import fitted_curves, outside_split
from .engine import DIVERGENCE_CHECK, TrainConfig

CURVE_POINTS = 200  # samples of a fitted 1-D function, from -outer to outer, stored at the last epoch


def _mse(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return torch.mean((model(x).squeeze(1) - y) ** 2).item()


class Regression:
    """The objective of runs with a fit ``target`` (see the module docstring)."""

    kind = "regression"
    fast = False  # full batches of a few hundred points: nothing for accelerate to gain

    def prepare(self, splits, config: TrainConfig, device: torch.device) -> dict:
        fit = splits.target(config.target)
        val_x, val_y, test_x, test_y = outside_split(fit)
        parts = {"train": (fit.train_x, fit.train_y), "val_in": (fit.val_x, fit.val_y),
                 "test_in": (fit.test_in_x, fit.test_in_y), "val_out": (val_x, val_y), "test_out": (test_x, test_y)}
        data = {name: (x.to(device), y.to(device)) for name, (x, y) in parts.items()}
        data["fit"] = fit
        return data

    def build(self, config: TrainConfig, data: dict, seed: int) -> torch.nn.Module:
        return build_model(config.model, config.activation, in_shape=(data["fit"].target.dim,), num_classes=1,
                           depth=config.depth, width=config.width, batchnorm=config.batchnorm, init=config.init,
                           dropout=config.dropout, seed=seed)

    def optimizer(self, config: TrainConfig, model: torch.nn.Module):
        return None  # the engine's config.optimizer (Adam, as train_fit)

    def train_epoch(self, run, data: dict) -> tuple[float, float, int]:
        model, optimizer = run.net, run.optimizer
        x, y = data["train"]
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64)
        done = 0
        for step in range(1, run.config.steps + 1):
            loss = torch.mean((model(x).squeeze(1) - y) ** 2)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.clip()
            optimizer.step()
            loss_sum += loss.detach()
            done = step
            if step % DIVERGENCE_CHECK == 0 and not torch.isfinite(loss_sum):
                break
        mean = loss_sum.item() / max(done, 1)
        return mean, math.sqrt(mean) if mean >= 0 else math.nan, done * y.shape[0]

    def evaluate(self, run, data: dict, epoch: int):
        model = run.net
        model.eval()
        with torch.inference_mode():
            mse = {name: _mse(model, *data[name]) for name in ("val_out", "test_out", "val_in", "test_in")}
        rmse = {name: math.sqrt(v) if math.isfinite(v) else math.nan for name, v in mse.items()}
        rows = [{"name": "fit", "val_rmse_in": rmse["val_in"], "test_rmse_in": rmse["test_in"]}]
        fit = data["fit"]
        if epoch == run.config.epochs and fit.target.dim == 1:
            curves = fitted_curves(fit, [SimpleNamespace(activation="y", model=model)], points=CURVE_POINTS)
            rows += [{"name": f"fit:curve:{i:03d}", "x": x, "y": f, "target": t}
                     for i, (x, f, t) in enumerate(zip(curves["x"], curves["y"], curves["target"]))]
            rows.append({"name": "fit:box", "inner": fit.target.inner})
        return (mse["val_out"], rmse["val_out"]), (mse["test_out"], rmse["test_out"]), rows

    def check(self, config: TrainConfig, splits) -> None:
        """Refuse, before any training, an unknown target and a model that cannot be built."""
        self.build(config, self.prepare(splits, config, torch.device("cpu")), 0)


REGRESSION = Regression()
