"""What each dataset is, which files it has, where it may be found or fetched.

The SHA-256 sums are of the *decompressed* IDX files (mirrors serve gzip files
whose compressed bytes differ between copies; the content does not).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

# Canonical file stems, in the order (train images, train labels, test images, test labels).
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

DIGITS = [str(d) for d in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    classes: list[str]
    sha256: dict[str, str]  # file stem -> SHA-256 of its decompressed content; empty for embedded
    mirrors: tuple[str, ...] = ()  # base URLs, tried in order
    system_dirs: tuple[str, ...] = ()  # read-only places a distribution package installs the files


SPECS = {
    "mnist-small": DatasetSpec(
        name="mnist-small",
        description="real MNIST subset shipped inside actlab: 10,000 train (1,000 per digit) and 2,000 test (200 per digit) images",
        classes=DIGITS,
        sha256={},
    ),
    "mnist": DatasetSpec(
        name="mnist",
        description="MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 train and 10,000 test images, 28x28 grey",
        classes=DIGITS,
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        description="Fashion-MNIST (Zalando Research): 60,000 train and 10,000 test images of clothing, 28x28 grey",
        classes=FASHION,
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
    ),
}

DATASETS = {name: spec.description for name, spec in SPECS.items()}
ENV_VAR = "ACTLAB_DATA_DIR"


def names() -> list[str]:
    """The dataset names ``load_dataset`` accepts, the default first."""
    return list(SPECS)


def get_spec(name: str) -> DatasetSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(SPECS)}") from None


def cache_root() -> Path:
    """actlab's download cache: $XDG_CACHE_HOME/actlab, else ~/.cache/actlab."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative (or empty) value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "actlab"
