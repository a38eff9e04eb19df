"""N(0, 1) data pushed through a deep plain network: activation mean, variance and
gradient norm per layer, measured with the diagnoser itself.

The network is ``depth`` layers of Linear(width, width) + activation, biases
zero (or as the init sets them). The backward pass starts from an N(0, 1)
gradient at the output, so no loss function shapes what comes back.
"""
from __future__ import annotations

import torch

from ..core import diagnose
from .nets import data_generator, mlp, positive


def propagate(depth: int, width: int, activation: str = "selu", init: str = "lecun",
              samples: int = 1000, seed: int = 0) -> dict:
    depth = positive("--depth", depth)
    width = positive("--width", width)
    samples = positive("--samples", samples)
    model = mlp([width] * (depth + 1), activation, init, seed, last_activation=True)
    gen = data_generator(seed)
    x = torch.randn(samples, width, generator=gen)
    with diagnose(model, sample_rows=None) as d:
        out = model(x)
        out.backward(torch.randn(out.shape, generator=gen))
    rows = d.table()
    return {"depth": depth, "width": width, "activation": activation, "init": init, "samples": samples,
            "seed": seed, "input_mean": float(x.mean()), "input_var": float(x.var(correction=0)),
            "mean": [r["act_mean"] for r in rows], "var": [r["act_var"] for r in rows],
            "grad_norm": [r["grad_norm_w"] for r in rows],
            "frac_saturated": [r["frac_saturated"] for r in rows], "frac_dead": [r["frac_dead"] for r in rows]}
