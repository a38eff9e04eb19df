"""``npz:PATH``: NumPy arrays ``x`` (N, ...) and ``y`` (N,) integer labels, or a given train/test split."""
from __future__ import annotations

import zipfile

import numpy as np
import torch

from ..errors import DataError
from .common import (UserDataset, as_labels, check_classes, check_finite, existing, file_sha256, record,
                     stratified_test_split)

WHOLE = ("x", "y")
GIVEN = ("x_train", "y_train", "x_test", "y_test")
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"


def _arrays(path, names: tuple[str, ...]) -> dict:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in names}
    except ValueError as exc:  # object arrays need pickle, which a data file must never run
        raise DataError(f"{path}: an array could not be read without pickle ({exc}); save plain numeric "
                        f"arrays with numpy.savez.") from None


def _keys(path) -> set[str]:
    save = "save the arrays with numpy.savez(path, x=..., y=...)"
    with open(path, "rb") as stream:
        head = stream.read(len(NPY_MAGIC))
    # Judged from the bytes: handed anything else, np.load would talk about pickles.
    if head == NPY_MAGIC:
        raise DataError(f"{path} is a single .npy array, not an npz archive; {save}.")
    if not head.startswith(ZIP_MAGIC):
        raise DataError(f"{path} is not an npz file (an npz is a zip archive of .npy arrays); {save}.")
    try:
        with np.load(path, allow_pickle=False) as loaded:
            return set(loaded.files)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is a damaged npz file ({exc}); {save}.") from None


def _check_pair(path, x: np.ndarray, y: np.ndarray, x_name: str, y_name: str) -> None:
    if x.dtype.kind not in "biuf" or x.ndim < 2:
        raise DataError(f"{path}: array {x_name!r} is {x.dtype} of shape {x.shape}; expected numbers shaped "
                        f"(N, ...) with one example per row. Convert it with x.astype('float32').")
    if y.dtype.kind not in "iu" or y.ndim != 1:
        raise DataError(f"{path}: array {y_name!r} is {y.dtype} of shape {y.shape}; expected integer class "
                        f"labels shaped (N,). Map the labels to 0, 1, 2, ... and save them as int64.")
    if len(x) == 0:
        raise DataError(f"{path}: array {x_name!r} holds no examples; it needs one row per example.")
    if len(x) != len(y):
        raise DataError(f"{path}: {x_name!r} holds {len(x)} examples but {y_name!r} holds {len(y)} labels; "
                        f"they must match one to one.")
    if len(y) and int(y.min()) < 0:
        raise DataError(f"{path}: {y_name!r} holds the label {int(y.min())}; labels are class indices 0, 1, 2, ...")
    check_finite(x, f"{path}: array {x_name!r}")


def _tensor(x: np.ndarray) -> torch.Tensor:
    # uint8 stays pixels (the built-in datasets' dtype); anything else becomes float32 values as stored.
    return torch.from_numpy(np.ascontiguousarray(x if x.dtype == np.uint8 else x.astype(np.float32)))


def load_npz(text: str, path_text: str, *, test_fraction: float, seed: int) -> UserDataset:
    """Read ``path_text`` (see module docstring); a missing test part is a stratified ``test_fraction``."""
    path = existing(path_text, "npz")
    keys = _keys(path)
    if set(GIVEN) <= keys:
        a = _arrays(path, GIVEN)
        _check_pair(path, a["x_train"], a["y_train"], "x_train", "y_train")
        _check_pair(path, a["x_test"], a["y_test"], "x_test", "y_test")
        if a["x_train"].shape[1:] != a["x_test"].shape[1:]:
            raise DataError(f"{path}: x_train examples are shaped {a['x_train'].shape[1:]} but x_test examples "
                            f"{a['x_test'].shape[1:]}; both parts must have the same example shape.")
        x_train, y_train, x_test, y_test = a["x_train"], a["y_train"], a["x_test"], a["y_test"]
        train_rows = test_rows = None
        note = "train and test parts as given in the file"
    elif set(WHOLE) <= keys:
        a = _arrays(path, WHOLE)
        _check_pair(path, a["x"], a["y"], "x", "y")
        classes = [str(i) for i in range(int(a["y"].max()) + 1)] if len(a["y"]) else []
        check_classes(a["y"], classes, str(path))
        train_rows, test_rows = stratified_test_split(a["y"], classes, test_fraction, seed, str(path))
        x_train, y_train, x_test, y_test = a["x"][train_rows], a["y"][train_rows], a["x"][test_rows], a["y"][test_rows]
        note = f"test part: a stratified {test_fraction:g} of every class (seed {seed})"
    else:
        raise DataError(f"{path} holds the arrays {sorted(keys)}; expected 'x' and 'y', or 'x_train', 'y_train', "
                        f"'x_test' and 'y_test'. Save them under those names with numpy.savez.")
    top = max(int(y_train.max()) if len(y_train) else 0, int(y_test.max()) if len(y_test) else 0)
    classes = [str(i) for i in range(top + 1)]
    check_classes(y_train, classes, str(path))
    kind = "images" if x_train.dtype == np.uint8 else "features"
    return UserDataset(
        name=text, source=str(path.resolve()),
        train_images=_tensor(x_train), train_labels=as_labels(y_train),
        test_images=_tensor(x_test), test_labels=as_labels(y_test), classes=classes,
        files=record("npz", path.resolve(), file_sha256(path)), kind=kind,
        notes=[note, "values as stored" + (" (uint8 pixels)" if kind == "images" else ", as float32")],
        train_rows=None if train_rows is None else torch.from_numpy(train_rows),
        test_rows=None if test_rows is None else torch.from_numpy(test_rows),
    )
