"""The Diagnoser: hooks that measure gradient flow and activation health in any model.

Hooks keep every statistic as a tensor on the model's device and convert to
Python numbers only when a table or plot is asked for, so training is never
forced to synchronise with the device on every step.

What a "layer" is: every module that owns parameters directly (Linear, Conv,
BatchNorm, ...), paired with the first activation module that runs after it in
the forward pass. An activation that follows no unpaired layer gets a row of
its own. An activation module called several times per forward pass (a shared
``self.relu``) gets one row per call site, named ``name#2``, ``name#3``, ...
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .derivatives import derivative_fn, is_activation, is_relu

METRICS = ("grad_norm_w", "grad_norm_b", "update_ratio", "act_mean", "act_var", "frac_saturated", "frac_dead")
ALIASES = {"grad_norm": "grad_norm_w"}


class _ActivationStats:
    """Running statistics of one activation call site."""

    def __init__(self, unit_dim: int):
        self.unit_dim = unit_dim
        self.ever_fired: Optional[torch.Tensor] = None
        self.units_vary = False
        self.per_call: list[torch.Tensor] = []  # [mean, var, frac_saturated, frac_dead so far]
        self.counts: list[int] = []

    def update(self, z: torch.Tensor, a: torch.Tensor, fn, relu: bool, threshold: float,
               rows: Optional[int]) -> None:
        """Mean, variance and saturation from the first ``rows`` rows of the batch (all when
        None). Dead units: from every sample for ReLU (one cheap max per unit); for other
        activations from the same rows, since their derivative costs several passes."""
        dim = self.unit_dim % a.dim() if a.dim() else 0
        others = tuple(i for i in range(a.dim()) if i != dim)
        part = slice(0, rows) if rows and a.dim() > 1 else slice(None)
        if relu:
            unit_fired = (a.amax(dim=others) if others else a) > 0
            sub = a[part]
            # ReLU output is >= 0, so sign() counts the positive elements (several times faster
            # than count_nonzero on CPU); a NaN makes the fraction NaN, which is honest
            frac_sat = 1.0 - torch.sign(sub).sum() / max(sub.numel(), 1)
        else:
            size = fn(z[part], a[part]).abs()
            fired = size > 0  # NaN neither fires nor saturates
            unit_fired = fired.any(dim=others) if others else fired
            frac_sat = (size < threshold).float().mean()
        if self.ever_fired is None:
            self.ever_fired = unit_fired
        elif self.ever_fired.shape == unit_fired.shape:
            self.ever_fired = self.ever_fired | unit_fired
        else:
            self.units_vary = True
        sub = a[part].float()
        n = max(sub.numel(), 1)
        mean = sub.sum() / n
        var = (torch.linalg.vector_norm(sub) ** 2 / n - mean * mean).clamp_min(0)
        dead = 1.0 - self.ever_fired.float().mean()
        self.per_call.append(torch.stack([mean, var, torch.as_tensor(frac_sat, dtype=torch.float32,
                                                                       device=a.device), dead]))
        self.counts.append(n)

    def summary(self) -> dict:
        if not self.per_call:
            return {"act_mean": None, "act_var": None, "frac_saturated": None, "frac_dead": None}
        rows = torch.stack(self.per_call).double().cpu()
        n = torch.tensor(self.counts, dtype=torch.float64)
        total = n.sum()
        mean = float((rows[:, 0] * n).sum() / total)
        # pooled variance: within-call variance plus the spread of call means
        var = float(((rows[:, 1] + (rows[:, 0] - mean) ** 2) * n).sum() / total)
        return {"act_mean": mean, "act_var": var,
                "frac_saturated": float((rows[:, 2] * n).sum() / total),
                "frac_dead": None if self.units_vary else float(rows[-1, 3])}

    def series(self, metric: str) -> list[float]:
        column = ("act_mean", "act_var", "frac_saturated", "frac_dead").index(metric)
        return torch.stack(self.per_call)[:, column].tolist() if self.per_call else []


class Diagnoser:
    """Per-layer gradient and activation statistics of ``model``; see :func:`diagnose`."""

    def __init__(self, model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
                 saturation_threshold: float = 1e-3, sample_rows: Optional[int] = 16):
        if not isinstance(model, nn.Module):
            raise TypeError(f"diagnose expects a torch.nn.Module, got {type(model).__name__}")
        if saturation_threshold <= 0:
            raise ValueError(f"saturation_threshold must be > 0, got {saturation_threshold}")
        self.model = model
        self.optimizer = optimizer
        self.threshold = float(saturation_threshold)
        if sample_rows is not None and sample_rows < 1:
            raise ValueError(f"sample_rows must be None (all rows) or at least 1, got {sample_rows}")
        self.sample_rows = sample_rows
        self._handles: list = []
        self._layers: dict[str, nn.Module] = {}
        self._acts: dict[str, nn.Module] = {}
        for name, module in model.named_modules():
            if is_activation(module):
                self._acts[name or "model"] = module
            elif any(True for _ in module.parameters(recurse=False)):
                self._layers[name or "model"] = module
        self._order: list[str] = []  # first-seen order of layers and activation call sites
        self._seen: set[str] = set()
        self._calls: dict[str, int] = {}
        self._last_layer: Optional[nn.Module] = None
        self.reset()
        self._attach()

    # -- hooks ------------------------------------------------------------ #
    def _attach(self) -> None:
        self._handles.append(self.model.register_forward_pre_hook(self._on_model_forward))
        for name, layer in self._layers.items():
            self._handles.append(layer.register_forward_hook(self._layer_hook(name)))
            for pname in ("weight", "bias"):
                p = getattr(layer, pname, None)
                if isinstance(p, nn.Parameter) and p.requires_grad:
                    self._handles.append(p.register_post_accumulate_grad_hook(self._grad_hook(name, pname)))
        for name, act in self._acts.items():
            fn = None if is_relu(act) else derivative_fn(act)
            self._handles.append(act.register_forward_hook(self._activation_hook(name, fn)))
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_step))

    def _on_model_forward(self, module, inputs) -> None:
        self._calls.clear()
        self._last_layer = None

    def _see(self, key: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self._order.append(key)

    def _layer_hook(self, name: str):
        def hook(module, inputs, output):
            self._last_layer = module
            self._see(name)
        return hook

    def _activation_hook(self, name: str, fn):
        def hook(module, inputs, output):
            if not inputs or not torch.is_tensor(inputs[0]) or not torch.is_tensor(output):
                return
            index = self._calls.get(name, 0)
            self._calls[name] = index + 1
            key = name if index == 0 else f"{name}#{index + 1}"
            self._see(key)
            stats = self._act_stats.get(key)
            if stats is None:
                # Linear layers put their units last; convolutions put channels at dim 1.
                unit_dim = -1 if hasattr(self._last_layer, "out_features") else 1
                stats = self._act_stats[key] = _ActivationStats(unit_dim if output.dim() > 1 else 0)
            with torch.no_grad():
                stats.update(inputs[0].detach(), output.detach(), fn, fn is None, self.threshold, self.sample_rows)
        return hook

    def _grad_hook(self, name: str, pname: str):
        def hook(p):
            self._grads.setdefault((name, pname), []).append(torch.linalg.vector_norm(p.grad.detach()))
        return hook

    def _tracked_weights(self) -> list[tuple[str, torch.Tensor]]:
        return [(n, m.weight) for n, m in self._layers.items()
                if isinstance(getattr(m, "weight", None), nn.Parameter) and m.weight.requires_grad]

    def _before_step(self, optimizer, args, kwargs) -> None:
        self._snapshot = [(n, w.detach().clone()) for n, w in self._tracked_weights()]

    def _after_step(self, optimizer, args, kwargs) -> None:
        current = dict(self._tracked_weights())
        for name, before in self._snapshot:
            change = torch.linalg.vector_norm(current[name].detach() - before)
            self._updates.setdefault(name, []).append(change / torch.linalg.vector_norm(before))
        self._snapshot = []

    # -- lifetime ----------------------------------------------------------- #
    def close(self) -> None:
        """Remove every hook; the statistics stay readable."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> "Diagnoser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def reset(self) -> None:
        """Forget the statistics gathered so far (e.g. at the start of an epoch); keep the hooks."""
        self._act_stats: dict[str, _ActivationStats] = {}
        self._grads: dict[tuple[str, str], list[torch.Tensor]] = {}
        self._updates: dict[str, list[torch.Tensor]] = {}
        self._snapshot: list = []

    # -- results ------------------------------------------------------------ #
    def _rows(self) -> list[tuple[str, Optional[str], Optional[str]]]:
        """(row name, layer name or None, activation call site or None) in forward order."""
        rows, open_row = [], None
        ordered = self._order + [n for n in self._layers if n not in self._seen]
        for key in ordered:
            if key in self._layers:
                rows.append([key, key, None])
                open_row = rows[-1]
            elif open_row is not None and open_row[2] is None:
                open_row[2] = key
                open_row = None
            else:
                rows.append([key, None, key])
        return [tuple(r) for r in rows]

    @staticmethod
    def _mean(values: list[torch.Tensor]) -> Optional[float]:
        if not values:
            return None
        return float(torch.stack(values).double().mean())

    def table(self) -> list[dict]:
        """One dict per layer: name, type (e.g. "Linear+ReLU"), activation (its call site), grad_norm_w, grad_norm_b (means over backward
        passes), update_ratio (mean |dW|/|W| per optimizer step; None without an optimizer),
        act_mean, act_var, frac_saturated (over all elements seen), frac_dead (fraction of
        units whose derivative was 0 for every sample seen). None means not applicable."""
        out = []
        for row, layer, site in self._rows():
            kinds = [type(m).__name__ for m in (self._layers.get(layer), self._acts.get((site or "").split("#")[0]))
                     if m is not None]
            entry = {"name": row, "type": "+".join(kinds), "activation": site}
            entry["grad_norm_w"] = self._mean(self._grads.get((layer, "weight"), []))
            entry["grad_norm_b"] = self._mean(self._grads.get((layer, "bias"), []))
            entry["update_ratio"] = self._mean(self._updates.get(layer, []))
            stats = self._act_stats.get(site)
            entry.update(stats.summary() if stats else _ActivationStats(1).summary())
            out.append(entry)
        return out

    def series(self, metric: str) -> dict[str, list[float]]:
        """Per-row values over time: one per backward pass (gradient norms), optimizer step
        (update ratio) or forward call (activation statistics)."""
        metric = ALIASES.get(metric, metric)
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS + tuple(ALIASES))}")
        out = {}
        for row, layer, site in self._rows():
            if metric in ("grad_norm_w", "grad_norm_b"):
                values = self._grads.get((layer, "weight" if metric == "grad_norm_w" else "bias"), [])
                values = torch.stack(values).tolist() if values else []
            elif metric == "update_ratio":
                values = self._updates.get(layer, [])
                values = torch.stack(values).tolist() if values else []
            else:
                values = self._act_stats[site].series(metric) if site in self._act_stats else []
            if values:
                out[row] = values
        return out

    def plot(self, metric: str = "grad_norm", path=None):
        """A matplotlib Figure of ``metric`` per layer over time (log scale for norms and
        variances); saved to ``path`` when one is given."""
        from .plots import plot_series

        metric = ALIASES.get(metric, metric)
        return plot_series(self.series(metric), metric, log=metric in ("grad_norm_w", "grad_norm_b",
                                                                       "update_ratio", "act_var"), path=path)

    @property
    def steps(self) -> int:
        """Backward passes seen (the longest gradient series)."""
        return max((len(v) for v in self._grads.values()), default=0)


def diagnose(model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None,
             saturation_threshold: float = 1e-3, sample_rows: Optional[int] = 16) -> Diagnoser:
    """Watch ``model``'s gradient flow and activations; use as ``with diagnose(model) as d:``.

    Hooks go on at once and come off when the ``with`` block ends (or at
    ``d.close()``). Pass the ``optimizer`` to get the update/weight ratio.
    Activation mean, variance and the saturated fraction are estimated from the
    first ``sample_rows`` rows of each batch (None: all rows), which keeps the
    hooks cheap. Dead ReLU units are judged on every sample; for other
    activations on those rows too (pass ``sample_rows=None`` for an exact count).
    """
    return Diagnoser(model, optimizer=optimizer, saturation_threshold=saturation_threshold,
                     sample_rows=sample_rows)


def epoch_summary(d: Diagnoser, reset: bool = True) -> list[dict]:
    """Per-layer statistics of the epoch just finished, for a results store.

    Each dict has ``layer`` plus one key per metric of :meth:`Diagnoser.table`
    whose value is a number (not-applicable metrics are left out). With
    ``reset`` the diagnoser starts afresh, so the next call covers the next
    epoch only (dead units are then "never fired during that epoch").
    """
    rows = []
    for entry in d.table():
        row = {"layer": entry["name"]}
        row.update({m: entry[m] for m in METRICS if entry[m] is not None})
        rows.append(row)
    if reset:
        d.reset()
    return rows
