"""The user's own data: ``npz:PATH``, ``csv:PATH[#column=NAME]`` and ``imagefolder:DIR``.

    from actlab.data.user import load_user_dataset
    ds = load_user_dataset("imagefolder:photos", image_size=32)  # uint8 [N, 3, 32, 32] (or [N, 32, 32] grey)
    ds = load_user_dataset("csv:table.csv#column=species")       # float32 [N, F], standardised on train rows
    ds.provenance()                                              # name, source, SHA-256 of what was read

Each loader returns a :class:`UserDataset` with the fields of the built-in
:class:`actlab.data.Dataset`. See docs/user-data.md.
"""
from __future__ import annotations

from ..errors import DataError
from .common import UserDataset, check_arguments
from .images import load_imagefolder
from .npz import load_npz
from .table import load_csv

PREFIXES = ("npz", "csv", "imagefolder")


def is_user_dataset(text: str) -> bool:
    """Whether ``text`` names user data (``npz:``, ``csv:`` or ``imagefolder:``) rather than a built-in dataset."""
    return isinstance(text, str) and text.partition(":")[0] in PREFIXES and ":" in text


def load_user_dataset(text: str, *, image_size: int = 28, grey=None, test_fraction: float = 0.2,
                      seed: int = 0) -> UserDataset:
    """Load the user's data named by ``text``.

    Args:
        text: ``npz:PATH`` (arrays ``x``, ``y``, or ``x_train``, ``y_train``,
            ``x_test``, ``y_test``), ``csv:PATH`` (a ``label`` column, or
            ``csv:PATH#column=NAME``) or ``imagefolder:DIR``.
        image_size: side in pixels images are resized to (imagefolder only).
        grey: True (grey), False (3 channels) or None (grey if every image is);
            imagefolder only.
        test_fraction: the share of every class held out as the test part when
            the data bring no test part of their own.
        seed: seeds that held-out choice.

    Returns:
        A :class:`UserDataset`; bad input raises :class:`actlab.data.DataError`.

    Examples:
        >>> load_user_dataset("npz:digits.npz").train_images.shape  # doctest: +SKIP
        torch.Size([160, 28, 28])
    """
    if not is_user_dataset(text):
        raise DataError(f"{text!r} names no user data; expected npz:PATH, csv:PATH[#column=NAME] or imagefolder:DIR.")
    check_arguments(test_fraction, seed, grey)
    kind, _, rest = text.partition(":")
    if kind == "npz":
        return load_npz(text, rest, test_fraction=test_fraction, seed=seed)
    if kind == "csv":
        return load_csv(text, rest, test_fraction=test_fraction, seed=seed)
    return load_imagefolder(text, rest, image_size=image_size, grey=grey, test_fraction=test_fraction, seed=seed)


__all__ = ["PREFIXES", "UserDataset", "is_user_dataset", "load_user_dataset"]
