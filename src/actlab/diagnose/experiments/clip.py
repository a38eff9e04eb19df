"""An exploding set-up trained three ways: no clipping, clipping by value, clipping by norm.

The network is a deep fully connected one whose weights are initialised
``gain`` times larger than the activation's variance-preserving scale, so
activations and gradients grow layer by layer. The same initial weights and
the same mini-batches are used for all three runs. Recorded per step: the
training loss and the global gradient norm before clipping.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .nets import data_generator, mlp, positive

MODES = ("none", "value", "norm")


def _global_norm(params) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))


def clip_experiment(x: torch.Tensor, y: torch.Tensor, sizes: list[int], activation: str = "relu",
                    init: str = "he", gain: float = 2.0, lr: float = 0.01, epochs: int = 2,
                    batch_size: int = 32, clip_value: float = 0.5, clip_norm: float = 1.0,
                    seed: int = 0) -> dict:
    gain = positive("--gain", gain, float)
    lr = positive("--lr", lr, float)
    clip_value = positive("--clip-value", clip_value, float)
    clip_norm = positive("--clip-norm", clip_norm, float)
    epochs = positive("--epochs", epochs)
    if sizes[0] != x.shape[1] or sizes[-1] != 10:
        raise ValueError(f"--layers must start with {x.shape[1]} and end with 10; got {','.join(map(str, sizes))}")
    runs = {}
    for mode in MODES:
        model = mlp(sizes, activation, init, seed, gain=gain)
        params = list(model.parameters())
        opt = torch.optim.SGD(params, lr=lr)
        gen = data_generator(seed)
        losses, norms = [], []
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                norms.append(_global_norm(params))
                if mode == "value":
                    torch.nn.utils.clip_grad_value_(params, clip_value)
                elif mode == "norm":
                    torch.nn.utils.clip_grad_norm_(params, clip_norm)
                opt.step()
                losses.append(loss.detach())
        with torch.no_grad():
            final = float(F.cross_entropy(model(x), y))
            accuracy = float((model(x).argmax(1) == y).float().mean())
        losses_f = [float(v) for v in torch.stack(losses)]
        runs[mode] = {"loss": losses_f, "grad_norm": [float(v) for v in torch.stack(norms)],
                      "final_loss": final, "final_accuracy": accuracy,
                      "diverged": not all(math.isfinite(v) for v in losses_f + [final])}
    return {"layers": sizes, "activation": activation, "init": init, "gain": gain, "lr": lr,
            "epochs": epochs, "batch_size": batch_size, "clip_value": clip_value, "clip_norm": clip_norm,
            "samples": len(x), "seed": seed, "runs": runs}
