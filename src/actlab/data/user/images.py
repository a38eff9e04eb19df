"""``imagefolder:DIR``: one sub-folder per class (or ``DIR/train/<class>`` and ``DIR/test/<class>``).

Every image is decoded with Pillow, made grey (``convert("L")``, ITU-R 601-2
luma) or RGB (``convert("RGB")``; an alpha channel is dropped), and resized to
``image_size`` x ``image_size`` with the Lanczos filter
(``Image.Resampling.LANCZOS``, antialiased when shrinking); a non-square
image is stretched, not cropped, and an image already at that size is left
untouched. The result is uint8 like the built-in datasets: [N, H, W] grey or
[N, 3, H, W] colour.

Provenance: the SHA-256 of each image's bytes, and one SHA-256 over the lines
``<relative path>\\t<file sha256>\\n`` in sorted path order (paths relative
to DIR, with "/"), so renaming, adding, removing or editing any image changes it.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .common import UserDataset, as_labels, check_classes, existing, record, stratified_test_split

GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("imagefolder: needs Pillow, which is not installed; install it with "
                        "pip install 'actlab[images]' (or pip install Pillow).") from None
    return Image


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_files(folder: Path, extensions: set[str]) -> dict[str, list[Path]]:
    """class name -> its image files, sorted; an empty class folder is refused."""
    out = {}
    for class_dir in _visible_dirs(folder):
        files = sorted(p for p in class_dir.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions)
        if not files:
            raise DataError(f"class folder {class_dir} holds no image files; put the class's images in it "
                            f"(PNG, JPEG, ...) or remove the folder.")
        out[class_dir.name] = files
    return out


def _layout(root: Path, extensions: set[str]) -> tuple[dict, dict | None]:
    """(train classes, test classes or None): DIR/train + DIR/test when both exist, else DIR's sub-folders."""
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        train, test = _class_files(train_dir, extensions), _class_files(test_dir, extensions)
        unknown = sorted(set(test) - set(train))
        if unknown:
            raise DataError(f"{test_dir} has class folders {unknown} that {train_dir} lacks; the test part can "
                            f"only hold classes the model is trained on. Add them to train/ or remove them.")
    else:
        for half, other in ((train_dir, test_dir), (test_dir, train_dir)):
            if half.is_dir() and _visible_dirs(half):
                raise DataError(f"{root} has {half.name}/ with class folders but no {other.name}/; give both "
                                f"train/ and test/, or put the class folders directly in {root}.")
        train, test = _class_files(root, extensions), None
    if not train:
        raise DataError(f"{root} holds no class folders; expected one sub-folder per class (DIR/<class>/image.png), "
                        f"optionally under DIR/train and DIR/test.")
    return train, test


def _decode(Image, path: Path, data: bytes):
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"image {path} could not be read ({exc}); replace it with a valid image file or "
                        f"remove it.") from None
    return image


def _is_grey(image) -> bool:
    if image.mode in GREY_MODES:
        return True
    rgb = np.asarray(image.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def _pixels(Image, image, grey: bool, size: int) -> np.ndarray:
    image = image.convert("L" if grey else "RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    array = np.asarray(image, dtype=np.uint8)
    return array if grey else array.transpose(2, 0, 1)  # channels first, as PyTorch's convolutions take them


def _check_size(image_size) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not 1 <= image_size <= 4096:
        raise DataError(f"image_size must be a whole number of pixels between 1 and 4096, got {image_size!r}; "
                        f"28 matches the built-in datasets.")


def _read(Image, root: Path, parts, index: dict, image_size: int, grey):
    """Decode, convert and resize every image: (pixels, labels, in_test, folder SHA-256, grey)."""
    arrays, labels, in_test, lines = [], [], [], []
    all_grey = True
    for part, by_class in parts:
        for name in sorted(by_class):
            for path in by_class[name]:
                data = path.read_bytes()
                lines.append(f"{path.relative_to(root).as_posix()}\t{hashlib.sha256(data).hexdigest()}\n")
                image = _decode(Image, path, data)
                if grey is None:
                    all_grey = all_grey and _is_grey(image)
                # Until every image is seen, "auto" keeps RGB: only the small resized pixels are held, never
                # the decoded images.
                arrays.append(_pixels(Image, image, bool(grey), image_size))
                labels.append(index[name])
                in_test.append(part == "test")
    pixels = np.stack(arrays)
    if grey is None and all_grey:
        # Equal channels: Pillow's luma of (v, v, v) is v, and it resamples each band alike, so channel 0
        # is exactly what convert("L") then resize would give.
        pixels, grey = np.ascontiguousarray(pixels[:, 0]), True
    folder_sha = hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    return pixels, np.array(labels, dtype=np.int64), np.array(in_test), folder_sha, bool(grey)


def load_imagefolder(text: str, path_text: str, *, image_size: int, grey, test_fraction: float,
                     seed: int) -> UserDataset:
    """Read an image folder (see module docstring); ``grey``: True, False, or None (grey if every image is)."""
    Image = _pillow()
    _check_size(image_size)
    root = existing(path_text, "imagefolder", folder=True)
    extensions = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    train, test = _layout(root, extensions)
    classes = sorted(train)
    parts = [("train", train)] + ([("test", test)] if test is not None else [])
    index = {name: i for i, name in enumerate(classes)}
    pixels, labels, in_test, folder_sha, grey = _read(Image, root, parts, index, image_size, grey)
    channels = "grey" if grey else "3 channels (RGB)"
    notes = [f"{len(labels)} images resized to {image_size}x{image_size} (Lanczos), {channels}"]
    if test is None:
        check_classes(labels, classes, str(root))
        train_rows, test_rows = stratified_test_split(labels, classes, test_fraction, seed, str(root))
        notes.append(f"test part: a stratified {test_fraction:g} of every class (seed {seed})")
    else:
        train_rows, test_rows = np.flatnonzero(~in_test), np.flatnonzero(in_test)
        check_classes(labels[train_rows], classes, str(root / "train"))
        notes.append("train and test parts from DIR/train and DIR/test")
    return UserDataset(
        name=text, source=str(root.resolve()),
        train_images=torch.from_numpy(pixels[train_rows]), train_labels=as_labels(labels[train_rows]),
        test_images=torch.from_numpy(pixels[test_rows]), test_labels=as_labels(labels[test_rows]),
        classes=classes, files=record("imagefolder", root.resolve(), folder_sha, images=len(labels)),
        kind="images", notes=notes,
        train_rows=torch.from_numpy(train_rows), test_rows=torch.from_numpy(test_rows),
    )
