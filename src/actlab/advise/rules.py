"""From measurements and theory to recommendations, each backed by its numbers.

A recommendation is made only when a measurement shows the problem and, where
the theory covers the case, the theory predicts it too; every one carries the
measured and predicted numbers it rests on. Thresholds are module constants
so that the report can state them.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Optional

from ..theory.critical import TRAINABLE_DEPTH_MULTIPLE as DEPTH_MULTIPLE
from .identify import LayerInit

# A gradient that changes by more than this factor (in squared norm) across a chain of
# layers is flagged; 10x is where per-layer learning rates start to differ by an order.
SPREAD = 10.0
DEAD = 0.5         # fraction of units with zero derivative on every sample of the batch
SATURATED = 0.25   # fraction of elements with |f'(z)| < 1e-3
SPIKE = 10.0       # largest over median total gradient norm during the steps


@dataclass
class Recommendation:
    """One thing to change. ``topic``: init, activation, normalisation or clipping;
    ``action``: what to do; ``evidence``: the measured and predicted numbers behind it;
    ``layers``: the layer names it concerns; ``values``: the same numbers, machine-readable."""

    topic: str
    action: str
    evidence: list[str]
    layers: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)


@dataclass
class ChainTheory:
    """A run of equal layers feeding one activation, with theory and measurement side by side.

    ``chi1_measured`` is exp of minus the least-squares slope of log |delta_l|^2
    (see :func:`backprop_norms`) over the layer index l: the per-layer factor by
    which the squared backpropagated gradient grows toward the input;
    ``factor_measured`` = |delta_first|^2 / |delta_last|^2 over the chain.
    """

    layers: list[LayerInit]
    activation: str
    params: dict
    sigma_w2: float
    sigma_b2: float
    chi1: Optional[float]
    xi_c: Optional[float]
    chi1_measured: Optional[float]
    factor_measured: Optional[float]
    critical_gain: Optional[float] = None
    theory_error: Optional[str] = None
    q_star: Optional[float] = None
    act_var: tuple = (None, None)  # measured variance of the activations after the first and last layer

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def factor_predicted(self) -> Optional[float]:
        if self.chi1 is None or self.chi1 <= 0:
            return None
        return self.chi1 ** (self.depth - 1)


def call_theory(fn, *args, **kwargs):
    """(value, None) or (None, reason) for a theory call the activation may not support."""
    try:
        return fn(*args, **kwargs), None
    except (ValueError, TypeError, ArithmeticError, NotImplementedError) as err:
        return None, str(err)


def grad_norms(table: list[dict]) -> dict[str, float]:
    return {row["name"]: row["grad_norm_w"] for row in table if row.get("grad_norm_w") is not None}


def backprop_norms(layers: list[LayerInit], table: list[dict]) -> dict[str, float]:
    """|delta_l|^2 up to a common factor: the squared gradient with respect to layer l's output.

    |dL/dW_l|^2 = sum over samples of |delta_l|^2 |x_{l-1}|^2, so dividing by the
    second moment of the layer's input (the previous layer's activation output,
    act_var + act_mean^2) leaves the backpropagated part that chi_1 describes,
    also where the forward signal itself grows or fades (q* = 0). Layers whose
    input is not a measured activation (the first layer) are left out.
    """
    rows = {row["name"]: row for row in table}
    norms, out = grad_norms(table), {}
    for before, layer in zip(layers, layers[1:]):
        prev = rows.get(before.name, {})
        g = norms.get(layer.name)
        if prev.get("act_var") is None or g is None:
            continue
        m2 = prev["act_var"] + prev["act_mean"] ** 2
        if m2 > 0 and math.isfinite(g):
            out[layer.name] = g * g / m2
    return out


def chain_theory(chain: list[LayerInit], layers: list[LayerInit], init_table: list[dict]) -> ChainTheory:
    """Predicted chi_1, xi_c and the critical gain for a chain, and chi_1 measured from gradients
    (``layers``: every weighted layer of the model, for the input of the chain's first layer)."""
    from .. import theory

    act, params = chain[0].activation, chain[0].params
    sw2 = statistics.fmean(layer.sigma_w2 for layer in chain)
    sb2 = statistics.fmean(layer.sigma_b2 for layer in chain)
    chi1, error = call_theory(theory.chi1, act, sw2, sb2, **params)
    scales, error2 = call_theory(theory.depth_scales, act, sw2, sb2, **params)
    gain, error3 = call_theory(theory.critical_gain, act, 0.0, **params)
    deltas = backprop_norms(layers, init_table)
    points = [(i, math.log(deltas[layer.name])) for i, layer in enumerate(chain)
              if deltas.get(layer.name, 0) > 0]
    measured = factor = None
    if len(points) >= 3:
        slope = statistics.linear_regression([i for i, _ in points], [v for _, v in points]).slope
        measured = math.exp(-slope)
        factor = measured ** (points[-1][0] - points[0][0])
    q_star, _ = call_theory(theory.fixed_point, act, sw2, sb2, **params)
    rows = {row["name"]: row for row in init_table}
    signal = tuple(rows.get(layer.name, {}).get("act_var") for layer in (chain[0], chain[-1]))
    return ChainTheory(chain, act, params, sw2, sb2, None if chi1 is None else float(chi1),
                       None if scales is None else float(scales[1]), measured, factor,
                       None if gain is None else float(gain), error or error2 or error3,
                       None if q_star is None else float(q_star), signal)


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def init_rule(c: ChainTheory) -> Optional[Recommendation]:
    """Recommend the critical gain when measurement and theory agree the gradient vanishes or explodes.

    Where the theory finds no edge of chaos for the activation (no gain can
    make chi_1 = 1 at a finite variance), the recommendation is to change the
    activation instead, with the same evidence.
    """
    if c.factor_measured is None or c.factor_predicted is None:
        return None
    measured, predicted = math.log10(c.factor_measured), math.log10(c.factor_predicted)
    limit = math.log10(SPREAD)
    if abs(measured) < limit or abs(predicted) < limit or measured * predicted < 0:
        return None
    what = "explodes" if measured > 0 else "vanishes"
    names = [layer.name for layer in c.layers]
    evidence = [
        f"measured at initialisation: the squared backpropagated gradient |dL/dh_l|^2 differs by a factor "
        f"{c.factor_measured:.3g} between the first and the last of these {c.depth} layers "
        f"(x{c.chi1_measured:.3g} per layer toward the input): the gradient {what} toward the input",
        f"predicted (mean-field) for {c.activation} at sigma_w^2 = {c.sigma_w2:.3g}, sigma_b^2 = {c.sigma_b2:.3g}: "
        f"chi_1 = {c.chi1:.3g} per layer, {c.factor_predicted:.3g} over the {c.depth} layers",
    ]
    if None not in c.act_var and c.q_star is not None:
        evidence.append(f"forward signal: the activations' variance goes from {c.act_var[0]:.3g} after "
                        f"{names[0]} to {c.act_var[1]:.3g} after {names[-1]}; predicted fixed point of the "
                        f"pre-activation variance q* = {c.q_star:.3g}")
    if c.xi_c is not None and math.isfinite(c.xi_c) and c.depth > DEPTH_MULTIPLE * c.xi_c:
        evidence.append(f"the depth {c.depth} exceeds {DEPTH_MULTIPLE:g} xi_c = {DEPTH_MULTIPLE * c.xi_c:.3g} "
                        f"(xi_c = {c.xi_c:.3g}), beyond which Schoenholz et al. (2017) find such networks do not train")
    values = {"sigma_w2": c.sigma_w2, "sigma_b2": c.sigma_b2, "chi1": c.chi1, "chi1_measured": c.chi1_measured}
    if c.critical_gain is None:
        evidence.append(f"no initialisation fixes this: {c.theory_error}")
        return Recommendation("activation", f"replace {c.activation} in {names[0]} .. {names[-1]} by an activation "
                              "that has an edge of chaos at sigma_b^2 = 0, such as tanh or elu (check with "
                              "'actlab theory NAME')", evidence, names, values)
    from .. import theory

    at_critical, _ = call_theory(theory.chi1, c.activation, c.critical_gain ** 2, 0.0, **c.params)
    evidence.insert(2, f"at the critical gain {c.critical_gain:.4g} (sigma_w^2 = {c.critical_gain ** 2:.4g}, "
                       f"sigma_b^2 = 0) the prediction is chi_1 = {_fmt(at_critical)}")
    action = (f"initialise {names[0]} .. {names[-1]} ({c.depth} layers feeding {c.activation}) with "
              f"std = {c.critical_gain:.4g} / sqrt(fan_in) and zero biases (the edge of chaos; "
              f"advice.apply(model) does it)")
    return Recommendation("init", action, evidence, names, dict(values, gain=c.critical_gain, chi1_at_gain=at_critical))


def _worst(tables: list[list[dict]], metric: str) -> tuple[Optional[str], float]:
    best_name, best = None, 0.0
    for table in tables:
        for row in table:
            value = row.get(metric)
            if value is not None and math.isfinite(value) and value > best:
                best_name, best = row["name"], value
    return best_name, best


def dead_rule(init: list[dict], last: Optional[list[dict]], relu_layers: list[LayerInit]) -> Optional[Recommendation]:
    """Recommend an activation with a gradient for negative inputs when many units are dead."""
    tables = [init] + ([last] if last else [])
    name, frac = _worst(tables, "frac_dead")
    if name is None or frac < DEAD:
        return None
    evidence = [f"measured: {frac:.0%} of the units of {name} have a zero derivative on every sample of the "
                f"batch (threshold {DEAD:.0%}); they receive no gradient and cannot recover"]
    if relu_layers:
        from .. import theory

        width = min(layer.shape[0] for layer in relu_layers)
        p, _ = call_theory(theory.born_dead, width, len(relu_layers))
        if p is not None:
            evidence.append(f"predicted (Lu et al. 2019): a ReLU network of width {width} and depth "
                            f"{len(relu_layers)} is dead at initialisation on a given input with probability {p:.3g}"
                            + (" (so these units died in training, not at initialisation)" if p < 0.01 else ""))
    return Recommendation("activation", "use an activation with a gradient for negative inputs "
                          "(leaky_relu, elu or gelu) where units die", evidence, [name], {"frac_dead": frac})


def saturation_rule(init: list[dict], last: Optional[list[dict]], layers: list[LayerInit], normalised: bool,
                    explained: set[str]) -> Optional[Recommendation]:
    """Recommend normalisation before saturating (sigmoidal) activations that init alone does not explain.

    Only sigmoidal activations count: a rectifier's zero half also has f' = 0,
    but that is its design, not saturation.
    """
    from ..catalog import spec

    sigmoidal = {layer.name for layer in layers
                 if layer.activation and spec(layer.activation).family == "sigmoidal" and layer.name not in explained}
    tables = [[row for row in t if row["name"] in sigmoidal] for t in [init] + ([last] if last else [])]
    name, frac = _worst(tables, "frac_saturated")
    if name is None or frac < SATURATED:
        return None
    evidence = [f"measured: {frac:.0%} of the activations of {name} have |f'(z)| < 1e-3 "
                f"(threshold {SATURATED:.0%}); saturated units pass almost no gradient"]
    if normalised:
        action = "scale the inputs of the saturating layers down (normalise the data to unit variance)"
    else:
        action = "add normalisation (BatchNorm or LayerNorm) before the saturating activations, or normalise the data"
    return Recommendation("normalisation", action, evidence, [name], {"frac_saturated": frac})


def clipping_rule(losses: list[float], norms: list[float]) -> Optional[Recommendation]:
    """Recommend gradient-norm clipping when a gradient spike made the loss rise, or training diverged.

    A spike is a step whose total gradient norm exceeds SPIKE times the median;
    it counts only when the loss after that step is higher than before it (a
    large gradient while the loss keeps falling is no reason to clip).
    """
    finite = [n for n in norms if math.isfinite(n) and n > 0]
    if len(finite) < 3:
        return None
    median = statistics.median(finite)
    diverged = any(not math.isfinite(x) for x in losses) or len(finite) < len(norms)
    harmful = [k for k in range(len(norms) - 1) if math.isfinite(norms[k]) and norms[k] > SPIKE * median
               and math.isfinite(losses[k + 1]) and losses[k + 1] > losses[k]]
    if not diverged and not harmful:
        return None
    evidence = [f"measured over {len(norms)} steps: total gradient norm median {median:.3g}, largest "
                f"{max(finite):.3g} (threshold for a spike: {SPIKE:g}x the median)"]
    for k in harmful[:3]:
        evidence.append(f"step {k + 1}: gradient norm {norms[k]:.3g}, and the loss rose from {losses[k]:.4g} "
                        f"to {losses[k + 1]:.4g}")
    if diverged:
        evidence.append("the loss or the gradient became non-finite during the steps")
    return Recommendation("clipping", f"clip the gradient to total norm {median:.3g} (the median measured norm): "
                          f"torch.nn.utils.clip_grad_norm_(model.parameters(), {median:.3g})", evidence, [],
                          {"clip_norm": median, "spikes": [k + 1 for k in harmful], "diverged": diverged})
