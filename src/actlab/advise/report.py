"""The Advice object: what was measured, what the theory predicts, and what to change."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .identify import LayerInit
from .measure import Measurements
from .rules import DEAD, DEPTH_MULTIPLE, SATURATED, SPIKE, SPREAD, ChainTheory, Recommendation, backprop_norms


def _num(x: Optional[float], digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclass
class Advice:
    """The result of :func:`actlab.advise`: print it, write it as HTML, or apply its init.

    ``recommendations``: what to change (empty when nothing measured needs a
    change); ``layers``: every weighted layer with its activation and sigma_w^2,
    sigma_b^2; ``chains``: runs of equal layers with theory and measurement
    side by side; ``measurements``: the raw per-layer tables; ``notes``: what
    could not be assessed and why.
    """

    model_name: str
    batch_shape: tuple
    layers: list[LayerInit]
    chains: list[ChainTheory]
    measurements: Measurements
    recommendations: list[Recommendation]
    normalised: bool
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.recommendations

    def apply(self, model: nn.Module, generator: Optional[torch.Generator] = None) -> int:
        """Re-initialise, in place, the layers an ``init`` recommendation names (normal weights of std
        gain / sqrt(fan_in), zero biases); returns how many layers changed. ``model`` must have the
        advised model's layer names (the same model, or another one built by the same code)."""
        modules = dict(model.named_modules())
        changed = 0
        with torch.no_grad():
            for rec in self.recommendations:
                if rec.topic != "init":
                    continue
                for name in rec.layers:
                    layer = modules.get(name)
                    if layer is None:
                        raise ValueError(f"the model has no layer {name!r}; apply the advice to the model it was "
                                         "made for (or one built by the same code)")
                    fan_in = layer.weight[0].numel()
                    layer.weight.normal_(0.0, rec.values["gain"] / math.sqrt(fan_in), generator=generator)
                    if getattr(layer, "bias", None) is not None:
                        layer.bias.zero_()
                    changed += 1
        return changed

    # -- per-layer rows shared by text and HTML ---------------------------- #
    def rows(self) -> list[dict]:
        """One dict per weighted layer: theory at its measured init next to its measured statistics."""
        init = {row["name"]: row for row in self.measurements.init}
        last = {row["name"]: row for row in self.measurements.steps[-1]} if self.measurements.steps else {}
        chain_of = {layer.name: i for i, c in enumerate(self.chains) for layer in c.layers}
        deltas = backprop_norms(self.layers, self.measurements.init)
        out = []
        for i, layer in enumerate(self.layers):
            row = init.get(layer.name, {})
            nxt = self.layers[i + 1].name if i + 1 < len(self.layers) else None
            ratio = None
            same_chain = layer.name in chain_of and chain_of.get(nxt) == chain_of[layer.name]
            if same_chain and deltas.get(layer.name) and deltas.get(nxt):
                ratio = deltas[layer.name] / deltas[nxt]
            out.append({
                "layer": layer.name, "kind": layer.kind, "activation": layer.activation or "-",
                "sigma_w2": layer.sigma_w2, "sigma_b2": layer.sigma_b2,
                "chi1_predicted": layer.chi1, "chi1_measured": ratio,
                "grad_norm": row.get("grad_norm_w"), "act_var": row.get("act_var"),
                "saturated": row.get("frac_saturated"), "dead": row.get("frac_dead"),
                "dead_after": last.get(layer.name, {}).get("frac_dead"),
            })
        return out

    COLUMNS = (("layer", "layer"), ("kind", "kind"), ("activation", "activation"), ("sigma_w2", "sigma_w^2"),
               ("sigma_b2", "sigma_b^2"), ("chi1_predicted", "chi_1 pred."), ("chi1_measured", "chi_1 meas."),
               ("act_var", "act var"), ("saturated", "saturated"), ("dead", "dead@init"),
               ("dead_after", "dead@end"))

    def _summary(self) -> list[str]:
        m = self.measurements
        lines = [f"actlab advise: {self.model_name}, batch {tuple(self.batch_shape)}, "
                 f"{len(self.layers)} weighted layers" + (", with normalisation" if self.normalised else "")]
        if m.losses:
            lines.append(f"training check: {len(m.losses)} {m.optimizer} steps (lr {m.lr:g}) on the batch, "
                         f"loss {m.losses[0]:.4g} -> {_num(m.final_loss, 4)}")
        for c in self.chains:
            lines.append(
                f"chain {c.layers[0].name} .. {c.layers[-1].name}: {c.depth} x {c.layers[0].kind} + {c.activation}, "
                f"sigma_w^2 = {c.sigma_w2:.3g}, sigma_b^2 = {c.sigma_b2:.3g}: chi_1 predicted {_num(c.chi1)}, "
                f"measured {_num(c.chi1_measured)}; xi_c = {_num(c.xi_c)}; critical gain {_num(c.critical_gain, 4)}"
                + (f" (theory: {c.theory_error})" if c.theory_error else ""))
        return lines

    def __str__(self) -> str:
        lines = self._summary()
        if self.recommendations:
            lines.append("")
            lines.append("recommendations:")
            for i, rec in enumerate(self.recommendations, 1):
                lines.append(f"{i}. [{rec.topic}] {rec.action}")
                lines += [f"   - {e}" for e in rec.evidence]
        else:
            lines.append("")
            lines.append("nothing to change: no measurement crossed a threshold (gradient change "
                         f"{SPREAD:g}x over a chain, dead units {DEAD:.0%}, saturation {SATURATED:.0%}, "
                         f"gradient spikes {SPIKE:g}x the median)")
        if self.notes:
            lines.append("")
            lines += [f"note: {n}" for n in self.notes]
        lines.append("")
        headers = [h for _, h in self.COLUMNS]
        body = [[_num(v) if not isinstance(v, str) else v for v in (r[k] for k, _ in self.COLUMNS)]
                for r in self.rows()]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
        lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The advice as plain data (for JSON; non-finite numbers such as an infinite xi_c become None)."""
        return _finite({
            "model": self.model_name, "batch_shape": list(self.batch_shape), "healthy": self.healthy,
            "recommendations": [vars(r) for r in self.recommendations],
            "chains": [{"layers": [layer.name for layer in c.layers], "activation": c.activation,
                        "params": c.params, "sigma_w2": c.sigma_w2, "sigma_b2": c.sigma_b2, "chi1": c.chi1,
                        "chi1_measured": c.chi1_measured, "xi_c": c.xi_c, "critical_gain": c.critical_gain}
                       for c in self.chains],
            "layers": self.rows(), "losses": self.measurements.losses,
            "grad_norms": self.measurements.grad_norms, "notes": self.notes,
        })

    def to_html(self, path) -> Path:
        """Write the advice as one self-contained HTML page; returns the path."""
        from ..report.html import bullet_list, esc, page, table

        summary = "".join(f"<p>{esc(line)}</p>" for line in self._summary())
        if self.recommendations:
            recs = "".join(f"<section><h3>{esc(r.topic)}: {esc(r.action)}</h3>{bullet_list(r.evidence)}</section>"
                           for r in self.recommendations)
        else:
            recs = "<p>Nothing to change: no measurement crossed a threshold.</p>"
        rows = [[r[k] for k, _ in self.COLUMNS] for r in self.rows()]
        body = (f"<h1>actlab advise: {esc(self.model_name)}</h1>{summary}<h2>Recommendations</h2>{recs}"
                f"<h2>Per layer</h2>{table([h for _, h in self.COLUMNS], rows, table_id='layers')}"
                f"<p>chi_1 pred.: the mean-field prediction at the layer's measured sigma_w^2 and sigma_b^2 (exact for "
                f"wide layers fed by the same activation; indicative elsewhere). chi_1 meas.: |dL/dh_l|^2 / |dL/dh_l+1|^2 measured at initialisation with "
                f"Gaussian output gradients (|dL/dW_l|^2 divided by the mean square of the layer's input). "
                f"Trainable depth: about {DEPTH_MULTIPLE:g} xi_c.</p>"
                + (f"<h2>Notes</h2>{bullet_list(self.notes)}" if self.notes else ""))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page(f"actlab advise: {self.model_name}", body, generator="actlab advise"), encoding="utf-8")
        return path
