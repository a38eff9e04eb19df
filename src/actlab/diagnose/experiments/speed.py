"""Nielsen's "speed of learning" of each hidden layer (Neural Networks and Deep Learning, ch. 5).

Set-up as in the book: a fully connected network whose output layer is a
sigmoid, weights N(0, 1/n_in) and biases N(0, 1) ("nielsen" init), trained with
plain mini-batch SGD (eta 0.1, mini-batch 10, L2 lambda 5.0 on the weights)
on the first N MNIST training images. The speed of hidden layer l is the norm
of the bias gradient averaged over those N images, ||(1/N) sum_x dC_x/db^l||.
Cost: "cross-entropy" (network2's, summed over the 10 sigmoid outputs) or
"quadratic" (||a - y||^2 / 2, network.py's).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .nets import data_generator, linears, mlp

COSTS = ("cross-entropy", "quadratic")


def cost(logits: torch.Tensor, onehot: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over samples of the per-sample cost of the sigmoid outputs."""
    if kind == "cross-entropy":
        return F.binary_cross_entropy_with_logits(logits, onehot, reduction="sum") / len(logits)
    if kind == "quadratic":
        return 0.5 * (torch.sigmoid(logits) - onehot).pow(2).sum() / len(logits)
    raise ValueError(f"unknown cost {kind!r}; expected one of {', '.join(COSTS)}")


def hidden_speeds(model, x, onehot, kind: str) -> tuple[list[float], float, float]:
    """(speed of each hidden layer, cost, accuracy) on (x, onehot)."""
    model.zero_grad(set_to_none=True)
    logits = model(x)
    loss = cost(logits, onehot, kind)
    loss.backward()
    hidden = linears(model)[:-1]
    speeds = [float(torch.linalg.vector_norm(layer.bias.grad)) for layer in hidden]
    accuracy = float((logits.argmax(1) == onehot.argmax(1)).float().mean())
    model.zero_grad(set_to_none=True)
    return speeds, float(loss.detach()), accuracy


def learning_speed(x: torch.Tensor, y: torch.Tensor, sizes: list[int], activation: str = "sigmoid",
                   init: str = "nielsen", epochs: int = 30, eta: float = 0.1, batch_size: int = 10,
                   lmbda: float = 5.0, cost_kind: str = "cross-entropy", seed: int = 0) -> dict:
    """Speed of each hidden layer at initialisation and after every epoch of SGD."""
    if cost_kind not in COSTS:
        raise ValueError(f"unknown cost {cost_kind!r}; expected one of {', '.join(COSTS)}")
    if len(sizes) < 3:
        raise ValueError(f"--layers needs at least one hidden layer (got {','.join(map(str, sizes))})")
    if sizes[0] != x.shape[1] or sizes[-1] != 10:
        raise ValueError(f"--layers must start with {x.shape[1]} (the image size) and end with 10 "
                         f"(the classes); got {','.join(map(str, sizes))}")
    model = mlp(sizes, activation, init, seed)
    onehot = F.one_hot(y, 10).to(x.dtype)
    n = len(x)
    weights = [l.weight for l in linears(model)]
    biases = [l.bias for l in linears(model)]
    # network2's L2 term: w -> (1 - eta * lambda / n) w, which is SGD weight decay lambda / n
    opt = torch.optim.SGD([{"params": weights, "weight_decay": lmbda / n},
                           {"params": biases, "weight_decay": 0.0}], lr=eta)
    gen = data_generator(seed)
    at_init, loss0, acc0 = hidden_speeds(model, x, onehot, cost_kind)
    by_epoch, losses, accuracies = [], [loss0], [acc0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            cost(model(x[idx]), onehot[idx], cost_kind).backward()
            opt.step()
        speeds, loss, acc = hidden_speeds(model, x, onehot, cost_kind)
        by_epoch.append(speeds)
        losses.append(loss)
        accuracies.append(acc)
    return {"layers": sizes, "activation": activation, "init": init, "cost": cost_kind, "samples": n,
            "eta": eta, "batch_size": batch_size, "lambda": lmbda, "epochs": epochs, "seed": seed,
            "speed_at_init": at_init, "speed_by_epoch": by_epoch,
            "cost_by_epoch": losses, "accuracy_by_epoch": accuracies}
