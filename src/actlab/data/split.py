"""``split``: a stratified, seeded train/validation split as float tensors.

The validation part is carved from the official training data (the test set is
left whole, for final numbers only). ``train_limit`` then takes a stratified
subset of the remaining training part; the validation part does not depend on
it, so runs with different limits are judged on the same validation images, and
for one seed a smaller limit's subset is contained in a larger one's.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

from .errors import DataError

# A stratified training subset needs at least this many examples of every class.
MIN_PER_CLASS = 3


@dataclass(repr=False)
class Splits:
    """float32 examples and int64 labels: images in [0, 1] shaped [N, C, H, W] (the built-in datasets:
    [N, 1, 28, 28]), or a user's feature vectors [N, F] (see :func:`to_float`)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    dataset: str
    train_indices: torch.Tensor  # positions in the dataset's train_images
    val_indices: torch.Tensor
    provenance: dict = field(default_factory=dict)  # the dataset's name, source and file hashes

    def __repr__(self) -> str:
        return f"Splits({self.dataset!r}, train={len(self.train_y)}, val={len(self.val_y)}, test={len(self.test_y)})"


def to_float(images: torch.Tensor) -> torch.Tensor:
    """The model's float32 input from a dataset's examples.

    uint8 pixels are scaled to [0, 1] (x / 255), any other dtype is kept as
    stored (features, already standardised or scaled by their owner). Grey
    images [N, H, W] gain a channel axis, [N, 1, H, W], as the built-in
    datasets have; colour images [N, C, H, W] and feature vectors [N, F] keep
    their shape.

    Examples:
        >>> to_float(torch.full((2, 4, 4), 255, dtype=torch.uint8)).shape
        torch.Size([2, 1, 4, 4])
        >>> to_float(torch.tensor([[0.5, -2.0]], dtype=torch.float64)).tolist()
        [[0.5, -2.0]]
    """
    x = images.unsqueeze(1) if images.dim() == 3 else images
    if images.dtype == torch.uint8:
        return x.to(torch.float32).div_(255)  # one allocation
    return x.to(torch.float32)


def _check_args(val_fraction, seed, train_limit) -> None:
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be a number between 0 and 1 (exclusive), got {val_fraction!r}; 0.1 is usual.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise DataError(f"seed must be an integer, got {seed!r}.")
    if train_limit is not None and (
        isinstance(train_limit, bool) or not isinstance(train_limit, numbers.Integral) or train_limit < 1
    ):
        raise DataError(f"train_limit must be a positive integer or None (use all), got {train_limit!r}.")


def _allocate(limit: int, counts: np.ndarray) -> np.ndarray:
    """Split ``limit`` over classes in proportion to ``counts`` (largest remainder; sums to ``limit``)."""
    total = int(counts.sum())
    share = limit * counts
    alloc = share // total
    # Hand the leftover examples to the largest remainders; ties go to the lower class.
    order = np.lexsort((np.arange(len(counts)), -(share % total)))
    alloc[order[: limit - int(alloc.sum())]] += 1
    return alloc


def _limit_error(limit: int, alloc: np.ndarray, counts: np.ndarray, classes, total: int) -> DataError:
    worst = int(np.argmin(alloc))
    enough = math.ceil(MIN_PER_CLASS * total / int(counts.min()))
    return DataError(
        f"train_limit={limit} leaves class {classes[worst]!r} with only {int(alloc[worst])} training "
        f"example(s); a stratified subset needs at least {MIN_PER_CLASS} per class. "
        f"Use train_limit >= {enough}, or leave it unset to train on all {total}."
    )


def stratified_parts(labels: np.ndarray, fraction: float, seed: int,
                     too_few) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per class, in label order: (held-out positions, kept positions).

    Each class is shuffled by one generator seeded with ``seed`` and
    round(fraction * class size) of it is held out, so every class keeps its
    share in both parts. ``too_few(cls, n_held, n_members)`` gives the error
    message when a class would leave a part empty. Used for the validation
    split here and for the test split of user data.
    """
    rng = np.random.default_rng(seed)
    held, kept = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_held = math.floor(fraction * len(members) + 0.5)
        if n_held < 1 or n_held >= len(members):
            raise DataError(too_few(int(cls), n_held, len(members)))
        held.append(members[:n_held])
        kept.append(members[n_held:])
    return held, kept


def split(dataset, val_fraction: float = 0.1, seed: int = 0, train_limit: int | None = None) -> Splits:
    """Split ``dataset`` (an actlab.data.Dataset) into train/validation/test float tensors.

    Every class keeps its share in the validation part (``val_fraction`` of
    each class, rounded). The same seed always gives the same split.
    ``train_limit`` caps the training part by a stratified subset; a value at
    or above the training size uses all of it.
    """
    _check_args(val_fraction, seed, train_limit)
    labels = dataset.train_labels.numpy()
    present = np.unique(labels)
    val_parts, train_parts = stratified_parts(
        labels, val_fraction, seed,
        lambda cls, n, m: (f"val_fraction={val_fraction} gives class {dataset.classes[cls]!r} {n} validation "
                           f"example(s) out of {m}; every class needs at least one in each part. "
                           f"Choose a val_fraction nearer 0.1."))
    counts = np.array([len(p) for p in train_parts])
    total = int(counts.sum())
    if train_limit is not None and train_limit < total:
        alloc = _allocate(train_limit, counts)
        if alloc.min() < MIN_PER_CLASS:
            raise _limit_error(train_limit, alloc, counts, [dataset.classes[c] for c in present], total)
        # Prefixes of each class's shuffled order: smaller limits nest inside larger ones.
        train_parts = [part[:k] for part, k in zip(train_parts, alloc)]
    train_idx = torch.from_numpy(np.sort(np.concatenate(train_parts)))
    val_idx = torch.from_numpy(np.sort(np.concatenate(val_parts)))
    return Splits(
        train_x=to_float(dataset.train_images[train_idx]),
        train_y=dataset.train_labels[train_idx],
        val_x=to_float(dataset.train_images[val_idx]),
        val_y=dataset.train_labels[val_idx],
        test_x=to_float(dataset.test_images),
        test_y=dataset.test_labels.clone(),
        classes=list(dataset.classes),
        dataset=dataset.name,
        train_indices=train_idx,
        val_indices=val_idx,
        provenance=dataset.provenance() if hasattr(dataset, "provenance") else {},
    )
