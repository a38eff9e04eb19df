"""``load_dataset``: find (or download) a dataset's IDX files and read them into tensors."""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import torch

from .download import download as _download
from .errors import DataError
from .idx import read_pair
from .provenance import fingerprint
from .locate import expected_names, files_in, locate, search_folders
from .sources import FILES, DatasetSpec, cache_root, get_spec

EMBEDDED = "mnist-small"
IMAGE_SIZE = (28, 28)


@dataclass(repr=False)
class Dataset:
    """A dataset's official train and test parts as tensors (uint8 images, int64 labels)."""

    name: str
    source: str  # the folder the files were read from, or "embedded"
    train_images: torch.Tensor  # uint8 [N, 28, 28]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    # stem -> {"path", "sha256" (of the decompressed content), "official"}: see data.provenance.fingerprint
    files: dict = field(default_factory=dict)

    def provenance(self) -> dict:
        """Name, source and the SHA-256 of each file: what a study records about its data."""
        return {"dataset": self.name, "source": self.source, "files": self.files}

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, source={self.source!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, classes={len(self.classes)})"
        )


def embedded_folder():
    """The packaged folder of the mnist-small files (an importlib.resources Traversable)."""
    return resources.files(__package__) / "embedded"


def _embedded_files() -> dict:
    folder = embedded_folder()
    return {stem: folder / f"{stem}.gz" for stem in FILES.values()}


def _find(spec: DatasetSpec, data_dir, download: bool, progress: bool, mirrors) -> dict:
    found = locate(spec, data_dir)
    if found is not None:
        return found
    target = cache_root() / spec.name
    if not download:
        looked = "\n  ".join(map(str, search_folders(spec)))
        raise DataError(
            f"dataset {spec.name} was not found and downloading is turned off. Looked for "
            f"{expected_names()} in:\n  {looked}\nAllow downloading (into {target}), or point "
            f"--data-dir (or ACTLAB_DATA_DIR) at a folder holding the four files."
        )
    # Keep whatever a previous, interrupted download already verified and stored.
    have = files_in(target)
    _download(spec, target, [stem for stem in FILES.values() if stem not in have], mirrors, progress)
    return files_in(target)


def _to_tensors(images: np.ndarray, labels: np.ndarray, spec: DatasetSpec, names: tuple[str, str]):
    if images.shape[1:] != IMAGE_SIZE:
        raise DataError(
            f"{names[0]} holds {images.shape[1]}x{images.shape[2]} images; {spec.name} images are "
            f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}. The file is from another dataset: replace it with the right one."
        )
    if len(labels) and int(labels.max()) >= len(spec.classes):
        raise DataError(
            f"{names[1]} has label {int(labels.max())}; {spec.name} labels run from 0 to "
            f"{len(spec.classes) - 1}. The file is corrupt or from another dataset: replace it."
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _read(files: dict, part: str, spec: DatasetSpec) -> tuple[torch.Tensor, torch.Tensor]:
    image_stem, label_stem = FILES[f"{part}_images"], FILES[f"{part}_labels"]
    names = (str(files[image_stem]), str(files[label_stem]))
    images, labels = read_pair(files[image_stem], files[label_stem], names)
    return _to_tensors(images, labels, spec, names)


def load_dataset(name: str = EMBEDDED, data_dir=None, download: bool = True, progress: bool = True, mirrors=None) -> Dataset:
    """Load ``name`` ("mnist-small", "mnist" or "fashion-mnist"); see docs/data.md for where files come from.

    ``data_dir``: a folder holding the files (directly or in a subfolder named
    after the dataset); when given it is the only place looked. ``download``:
    whether a missing dataset may be fetched into the cache (never for
    mnist-small, which ships inside actlab and ignores ``data_dir``).
    ``progress``: show a download progress bar. ``mirrors``: base URLs to
    download from instead of the official ones.
    """
    spec = get_spec(name)
    if name == EMBEDDED:
        files, source = _embedded_files(), "embedded"
    else:
        files = _find(spec, data_dir, download, progress, mirrors)
        source = str(next(iter(files.values())).parent)
    train_images, train_labels = _read(files, "train", spec)  # damaged files: the reader's precise messages
    test_images, test_labels = _read(files, "test", spec)
    identity = fingerprint(spec, files)  # files of another dataset are named as such
    return Dataset(name, source, train_images, train_labels, test_images, test_labels, list(spec.classes),
                   identity)
