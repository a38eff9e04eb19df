"""The one-neuron-per-layer chain (seed 000 after Nielsen, ch. 5), computed exactly.

Layer j computes z_j = w_j a_{j-1} + b_j and a_j = f(z_j), with a_0 the input.
Backpropagation gives

    dC/db_j = f'(z_j) * prod_{k > j} (w_k f'(z_k)) * dC/da_n,   dC/dw_j = a_{j-1} dC/db_j,

so each later layer multiplies the gradient of every earlier one by the
factor w_k f'(z_k). ``derivatives`` lets f'(z_j) be given instead of
computed, to replay arithmetic written with made-up derivative values.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

import actlab


def _floats(name: str, values) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {values!r}") from None
    if not out:
        raise ValueError(f"{name}: expected at least one number")
    return out


def chain(activation: str, weights: Sequence[float], biases: Sequence[float], x: float,
          dcost: float = 1.0, lr: Optional[float] = None,
          derivatives: Optional[Sequence[float]] = None) -> dict:
    """Forward and backward pass through the chain, layer by layer (first layer first)."""
    w = _floats("weights", weights)
    b = _floats("biases", biases)
    if len(b) == 1 and len(w) > 1:
        b = b * len(w)
    if len(b) != len(w):
        raise ValueError(f"got {len(w)} weights but {len(b)} biases; give one bias per weight (or a single one for all)")
    given = None if derivatives is None else _floats("derivatives", derivatives)
    if given is not None and len(given) != len(w):
        raise ValueError(f"got {len(given)} derivatives for {len(w)} layers; give one per layer")
    act = actlab.get(activation)
    a_prev, layers = float(x), []
    for j, (wj, bj) in enumerate(zip(w, b)):
        z = torch.tensor(wj * a_prev + bj, dtype=torch.float64)
        with torch.no_grad():
            a, d = float(act(z)), float(act.derivative(z))
        layers.append({"layer": j + 1, "w": wj, "b": bj, "input": a_prev, "z": float(z), "a": a,
                       "derivative": given[j] if given else d, "factor": wj * (given[j] if given else d)})
        a_prev = a
    grad_a = float(dcost)  # dC/da_j, walking back from the output
    for layer in reversed(layers):
        layer["dC_db"] = grad_a * layer["derivative"]
        layer["dC_dw"] = layer["dC_db"] * layer["input"]
        grad_a = layer["dC_db"] * layer["w"]
        if lr is not None:
            layer["new_b"] = layer["b"] - lr * layer["dC_db"]
            layer["new_w"] = layer["w"] - lr * layer["dC_dw"]
    return {"activation": actlab.label(activation), "input": float(x), "dcost": float(dcost), "lr": lr,
            "derivatives_given": given is not None, "layers": layers,
            "dC_db1": layers[0]["dC_db"], "dC_dw1": layers[0]["dC_dw"]}
