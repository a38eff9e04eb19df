"""``build_model``: the seed CNN, an MLP, or a user factory, with the activation's defaults.

The seed CNN is the Keras MNIST example the study starts from, layer for layer:
Conv2d(1,32,3) -> act -> Conv2d(32,64,3) -> act -> MaxPool2d(2) -> Dropout(0.25)
-> Flatten -> Linear(9216,128) -> act -> Dropout(0.5) -> Linear(128,10). It
returns logits; the engine applies (categorical) cross-entropy.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, Optional

import torch
from torch import nn

from ..catalog import DEFINITIONS, get, parse, spec
from .init import SCHEMES, init_weights

KINDS = ("cnn", "mlp", "plain-mlp")  # plain-mlp: the MLP without dropout (deep-mlp's family)
MLP_DROPOUT = 0.2  # per hidden layer; the CNN keeps the seed's 0.25 and 0.5


def dropout_layer(activation: str, p: float) -> nn.Module:
    """Dropout that suits the activation, as its definition says (``Activation.dropout``): AlphaDropout
    for SELU (it keeps SELU's fixed point of mean 0 and variance 1; ordinary dropout's zeros would
    shift it), nn.Dropout otherwise."""
    return nn.AlphaDropout(p) if spec(parse(activation)[0]).dropout == "alpha" else nn.Dropout(p)


def _hidden(layer: nn.Module, norm: Optional[nn.Module], act: Callable[[], nn.Module]) -> list[nn.Module]:
    # BatchNorm sits between the layer and the activation, as in the BatchNorm paper.
    return [layer] + ([norm] if norm is not None else []) + [act()]


def seed_cnn(act: Callable[[], nn.Module], activation: str, in_shape=(1, 28, 28), num_classes: int = 10,
             width: int = 128, batchnorm: bool = False, dropout: bool = True) -> nn.Sequential:
    """The seed CNN (see the module docstring); ``width`` is the dense layer's size (128 in the seed)."""
    channels, height, wide = in_shape
    if height < 6 or wide < 6:
        raise ValueError(f"the CNN needs images of at least 6x6 pixels (two 3x3 convolutions and a 2x2 pool); "
                         f"got in_shape={tuple(in_shape)}")
    flat = 64 * ((height - 4) // 2) * ((wide - 4) // 2)
    bias = not batchnorm  # a bias before BatchNorm is cancelled by its mean subtraction
    layers = _hidden(nn.Conv2d(channels, 32, 3, bias=bias), nn.BatchNorm2d(32) if batchnorm else None, act)
    layers += _hidden(nn.Conv2d(32, 64, 3, bias=bias), nn.BatchNorm2d(64) if batchnorm else None, act)
    layers.append(nn.MaxPool2d(2))
    if dropout:
        layers.append(dropout_layer(activation, 0.25))
    layers.append(nn.Flatten())
    layers += _hidden(nn.Linear(flat, width, bias=bias), nn.BatchNorm1d(width) if batchnorm else None, act)
    if dropout:
        layers.append(dropout_layer(activation, 0.5))
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def mlp(act: Callable[[], nn.Module], activation: str, in_shape=(1, 28, 28), num_classes: int = 10,
        depth: int = 2, width: int = 128, batchnorm: bool = False, dropout: bool = True) -> nn.Sequential:
    """Flatten, then ``depth`` hidden layers of ``width`` units (each: Linear, optional BatchNorm,
    activation, optional dropout of MLP_DROPOUT), then a linear layer to the logits."""
    if depth < 1 or width < 1:
        raise ValueError(f"an MLP needs depth >= 1 and width >= 1; got depth={depth}, width={width}")
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = int(torch.Size(in_shape).numel())
    for _ in range(depth):
        layers += _hidden(nn.Linear(fan_in, width, bias=not batchnorm),
                          nn.BatchNorm1d(width) if batchnorm else None, act)
        if dropout:
            layers.append(dropout_layer(activation, MLP_DROPOUT))
        fan_in = width
    layers.append(nn.Linear(fan_in, num_classes))
    return nn.Sequential(*layers)


def load_factory(kind: str) -> Callable[..., nn.Module]:
    """Import ``PKG.MODULE:FUNC`` and return FUNC, with errors that say how to fix the name."""
    from .._imports import load_callable

    module_name, _, func_name = kind.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"model {kind!r}: expected 'cnn', 'mlp' or a factory 'PKG.MODULE:FUNC'")
    return load_callable(kind, what=f"model {kind!r}",
                         expected="a function FUNC(activation_factory, in_shape=..., num_classes=...)")


def _from_factory(kind: str, act: Callable[[], nn.Module], in_shape, num_classes: int) -> nn.Module:
    model = load_factory(kind)(act, in_shape=tuple(in_shape), num_classes=num_classes)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model factory {kind!r} returned {type(model).__name__}, not a torch.nn.Module; "
                         "it must build and return the network")
    return model


def build_model(kind: str, activation: str, *, in_shape=(1, 28, 28), num_classes: int = 10, depth: int = 2,
                width: int = 128, batchnorm: bool = False, init: str = "auto", dropout: bool = True,
                seed: Optional[int] = None) -> nn.Module:
    """Build a network whose hidden activations are ``activation`` (a spec string like 'elu:alpha=0.2').

    ``kind``: 'cnn' (the seed CNN; ``width`` sizes its dense layer, ``depth`` is
    not used), 'mlp', 'plain-mlp' (the MLP without dropout: only Linear,
    optional BatchNorm and the activation, as in deep-network studies), or 'PKG.MODULE:FUNC', a factory called as
    ``FUNC(activation_factory, in_shape=..., num_classes=...)`` where
    ``activation_factory()`` returns a fresh activation module (the factory
    decides its own normalisation and dropout). ``init``: see
    :func:`actlab.models.init_weights`. With ``seed`` the whole construction
    draws from a private random stream, so the weights depend on the seed only
    and the global RNG is left as it was.
    """
    get(activation)  # validate the spec before building anything
    if kind in KINDS and DEFINITIONS[parse(activation)[0]].gated:  # the output would be half as wide as the next layer expects
        raise ValueError(f"{activation!r} is a gated unit (a * g(b)): it halves its input, so it cannot stand "
                         f"between the layers of the '{kind}' model; use it in a feed-forward block of your own, "
                         "Linear(d, 2h) -> unit -> Linear(h, d), through a factory 'PKG.MODULE:FUNC', or choose "
                         "an elementwise activation (see 'actlab list')")
    if init not in SCHEMES:
        raise ValueError(f"unknown init {init!r}; expected one of {', '.join(SCHEMES)}")
    if kind not in KINDS and ":" not in kind:
        raise ValueError(f"unknown model {kind!r}; expected 'cnn', 'mlp' or a factory 'PKG.MODULE:FUNC'")

    def act() -> nn.Module:
        return get(activation)

    private = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    with private:
        if seed is not None:
            torch.manual_seed(seed)
        if kind == "cnn":
            model = seed_cnn(act, activation, in_shape, num_classes, width, batchnorm, dropout)
        elif kind in ("mlp", "plain-mlp"):
            model = mlp(act, activation, in_shape, num_classes, depth, width, batchnorm,
                        dropout and kind == "mlp")
        else:
            model = _from_factory(kind, act, in_shape, num_classes)
        init_weights(model, activation, init)
    return model
