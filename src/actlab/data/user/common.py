"""What the three user-data loaders share: the dataset object, file hashes, the stratified test split, checks."""
from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..split import stratified_parts

CHUNK = 1 << 20


@dataclass(repr=False)
class UserDataset:
    """A user's data with the fields of :class:`actlab.data.Dataset`, plus how it was read.

    ``train_images``/``test_images`` keep the built-in names whatever the data
    are: uint8 pixel values ([N, H, W] grey, [N, 3, H, W] colour) for image
    folders and uint8 npz arrays, float32 values for everything else (npz
    arrays of other dtypes as stored, CSV features standardised).
    ``kind``: "images" (uint8 pixels, divide by 255 for [0, 1]) or "features"
    (float32, fed to a model as they are). ``train_rows``/``test_rows``: each
    example's position in the source (the npz's ``x``, the CSV's data rows, the
    image folder's files in reading order: train part then test part, each by
    class then file name); None for an npz that brings its own test part.
    """

    name: str
    source: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    files: dict = field(default_factory=dict)  # stem -> {"path", "sha256", "official": False, ...}
    kind: str = "features"
    notes: list[str] = field(default_factory=list)  # what was done to the data, in words
    train_rows: torch.Tensor | None = None
    test_rows: torch.Tensor | None = None

    def provenance(self) -> dict:
        """Name, source and the SHA-256 of what was read: what a study records (and resume compares)."""
        return {"dataset": self.name, "source": self.source, "files": self.files}

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.train_images.shape[1:]))
        return (f"UserDataset({self.name!r}, kind={self.kind!r}, example={shape}, train={len(self.train_labels)}, "
                f"test={len(self.test_labels)}, classes={len(self.classes)})")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes as stored (no decompression: an npz is hashed as the zip it is)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record(stem: str, path: Path, sha256: str, **extra) -> dict:
    """One ``files`` entry in the built-in datasets' shape; user files are never official."""
    return {stem: {"path": str(path), "sha256": sha256, "official": False, **extra}}


def existing(path_text: str, what: str, *, folder: bool = False) -> Path:
    """``path_text`` as a Path that exists (a folder when ``folder``), else a DataError saying so."""
    if not path_text:
        raise DataError(f"{what}: no path given; write it after the colon, e.g. {what}:/path/to/data.")
    path = Path(path_text).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist ({what} data); check the path, relative to {Path.cwd()}.")
    if folder and not path.is_dir():
        raise DataError(f"{path} is a file; {what}: takes a folder holding one sub-folder per class.")
    if not folder and path.is_dir():
        raise DataError(f"{path} is a folder; {what}: takes a file (for a folder of images use imagefolder:).")
    return path


def check_arguments(test_fraction, seed, grey) -> None:
    """The options every loader takes, checked before any file is read."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise DataError(f"seed must be an integer, got {seed!r}.")
    if grey not in (None, True, False):
        raise DataError(f"grey must be True, False or None (grey if every image is), got {grey!r}.")
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real)
            or not 0 < test_fraction < 1):
        raise DataError(f"test_fraction must be a number between 0 and 1 (exclusive), got {test_fraction!r}; "
                        f"0.2 is usual.")


def check_classes(labels: np.ndarray, classes: list[str], where: str) -> None:
    """Refuse data whose training part holds fewer than two classes: there is nothing to compare on it."""
    present = np.unique(labels)
    if len(present) < 2:
        only = classes[int(present[0])] if len(present) else "none"
        raise DataError(f"{where} holds a single class ({only!r}) in its training part; classification needs "
                        f"at least two. Add examples of the other classes.")


def check_finite(x: np.ndarray, where: str) -> None:
    """Refuse NaN or infinite features, naming the first example that has one (0-based)."""
    if x.dtype.kind != "f":
        return
    bad = ~np.isfinite(x.reshape(len(x), -1))
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError(f"{where}: example {row} (0-based) holds NaN or infinite values; features must be finite. "
                        f"Remove or impute those values and try again.")


def stratified_test_split(labels: np.ndarray, classes: list[str], test_fraction: float, seed: int,
                          where: str) -> tuple[np.ndarray, np.ndarray]:
    """(train positions, test positions): ``test_fraction`` of every class (rounded), seeded, both sorted.

    The same rule as :func:`actlab.data.split` uses for validation (one shared
    :func:`~actlab.data.split.stratified_parts`), so every class keeps its
    share in both parts.
    """
    test_parts, train_parts = stratified_parts(
        labels, test_fraction, seed,
        lambda cls, n, m: (f"{where}: test_fraction={test_fraction} gives class {classes[cls]!r} {n} test "
                           f"example(s) out of {m}; every class needs at least one in each part. Add examples "
                           f"of that class, choose another test_fraction, or provide a separate test part."))
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(test_parts))


def as_labels(labels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))
