"""A batch of real data for ``actlab advise`` from the command line."""
from __future__ import annotations

from typing import Optional

import torch


def load_batch(dataset: str = "mnist-small", data_dir: Optional[str] = None, size: int = 128,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` training images (float32 [size, 1, 28, 28] in [0, 1]) and their labels.

    Drawn at random (``seed``) from a stratified subset of the training split,
    so every class is present; the test set is never touched.
    """
    from ..data import load_dataset, split

    if size < 2:
        raise ValueError(f"the batch needs at least 2 images (got {size}); use e.g. --batch-size 128")
    data = load_dataset(dataset, data_dir=data_dir)
    splits = split(data, val_fraction=0.1, seed=seed, train_limit=max(size, 500))
    pick = torch.randperm(len(splits.train_x), generator=torch.Generator().manual_seed(seed))[:size]
    return splits.train_x[pick], splits.train_y[pick]


def load_model(kind: str, activation: Optional[str] = None, *, depth: int = 2, width: int = 128,
               init: str = "auto", seed: int = 0) -> torch.nn.Module:
    """The model ``actlab advise KIND`` looks at.

    ``cnn`` or ``mlp``: actlab's seed CNN or an MLP with ``activation``
    (default relu) and ``init``. ``PKG.MODULE:FUNC``: a factory; one callable
    without arguments is called as ``FUNC()``; otherwise as actlab's model
    factories are, ``FUNC(activation_factory, in_shape=..., num_classes=...)``.
    A factory's own initialisation is kept: that is what is being advised on.
    """
    import inspect

    from ..models import build_model
    from ..models.build import load_factory

    if kind in ("cnn", "mlp"):
        return build_model(kind, activation or "relu", depth=depth, width=width, init=init, seed=seed)
    factory = load_factory(kind)
    try:
        bare = all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                   for p in inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        bare = False
    if not bare:
        return build_model(kind, activation or "relu", init="pytorch", seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory()
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model factory {kind!r} returned {type(model).__name__}, not a torch.nn.Module; "
                         "it must build and return the network")
    return model
