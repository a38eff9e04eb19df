"""Plain fully connected networks and the weight initialisations the experiments compare."""
from __future__ import annotations

import math

import torch
from torch import nn

import actlab

# name -> standard deviation of N(0, std^2) weights for a layer with this fan-in / fan-out
_NORMAL_STD = {
    "he": lambda fan_in, fan_out: math.sqrt(2.0 / fan_in),
    "glorot": lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)),
    "lecun": lambda fan_in, fan_out: 1.0 / math.sqrt(fan_in),
    # torch.nn.init.calculate_gain('selu') is 3/4: variance shrinks by 9/16 per layer
    "selu-gain": lambda fan_in, fan_out: 0.75 / math.sqrt(fan_in),
    # Nielsen's network2 default: weights N(0, 1/n_in), biases N(0, 1)
    "nielsen": lambda fan_in, fan_out: 1.0 / math.sqrt(fan_in),
}
INITS = ("he", "glorot", "lecun", "orthogonal", "pytorch-default", "selu-gain", "nielsen")


def check_init(name: str) -> str:
    if name not in INITS:
        raise ValueError(f"unknown init {name!r}; expected one of {', '.join(INITS)}")
    return name


def parse_layers(text: str) -> list[int]:
    """'784,30,30,10' -> [784, 30, 30, 10]; input size first, output size last."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"--layers {text!r} is malformed; expected comma-separated positive "
                         "integers such as 784,30,30,10 (input first, output last)") from None
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"--layers {text!r}: expected at least two sizes, each at least 1 "
                         "(e.g. 784,30,30,10)")
    return sizes


def positive(name: str, value, kind=int):
    if value is None or value <= 0:
        raise ValueError(f"{name} must be positive (got {value})")
    return kind(value)


def init_linear(layer: nn.Linear, scheme: str, gain: float = 1.0) -> None:
    """Initialise one layer in place from the global RNG (callers fork and seed it)."""
    check_init(scheme)
    with torch.no_grad():
        if scheme == "pytorch-default":
            layer.reset_parameters()
        elif scheme == "orthogonal":
            nn.init.orthogonal_(layer.weight)
        else:
            layer.weight.normal_(0.0, _NORMAL_STD[scheme](layer.in_features, layer.out_features))
        if scheme != "pytorch-default" and layer.bias is not None:
            if scheme == "nielsen":
                layer.bias.normal_(0.0, 1.0)
            else:
                layer.bias.zero_()
        layer.weight.mul_(gain)


def mlp(sizes: list[int], activation: str, init: str, seed: int, gain: float = 1.0,
        last_activation: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` after each hidden one (and after the
    last when ``last_activation``), initialised by ``init`` (weights times ``gain``).

    Deterministic for ``seed`` without touching the caller's random state."""
    actlab.parse(activation)
    check_init(init)
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(n_in, n_out)
            init_linear(linear, init, gain)
            layers.append(linear)
            if i < len(sizes) - 2 or last_activation:
                layers.append(actlab.get(activation))
    return nn.Sequential(*layers)


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def data_generator(seed: int) -> torch.Generator:
    """The RNG for data and shuffling. Offset from the model's seed: drawn from the same
    stream, N(0, 1) inputs would repeat the first layer's weights and correlate with them."""
    return torch.Generator().manual_seed(seed + 7919)
