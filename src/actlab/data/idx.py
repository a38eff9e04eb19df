"""Reader for the IDX format of MNIST-style files, gzip-compressed or raw.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order.
These datasets use uint8 data only (dtype code 0x08). Compression is detected
from the content (gzip's magic bytes), not from the file name.
"""
from __future__ import annotations

import contextlib
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UINT8 = 0x08
# Number of dimensions per kind of file: labels are [N], images [N, rows, cols].
NDIM = {"labels": 1, "images": 3}
# The body is read in slices straight into the result, so a decompressed file
# never exists twice in memory.
_CHUNK = 1 << 22
# A header declaring more values than this is corrupt, not a real dataset; the
# bound keeps a garbage header from asking for terabytes.
_MAX_VALUES = 1 << 32


def expected_magic(kind: str) -> int:
    """The magic number of an IDX file of ``kind``: 0x00000801 labels, 0x00000803 images."""
    return (UINT8 << 8) | NDIM[kind]


def _redo(name: str) -> str:
    return f"Delete {name} and download it again, or point --data-dir at a good copy."


@contextlib.contextmanager
def open_content(source):
    """Yield a binary reader of ``source``'s content, decompressing gzip when the bytes say so."""
    opened = Path(source).open("rb") if isinstance(source, (str, os.PathLike)) else source.open("rb")
    with opened as raw:
        is_gzip = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if is_gzip:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                yield unpacked
        else:
            yield raw


def _read_into(stream, out: np.ndarray) -> int:
    """Fill ``out`` from ``stream``; return how many bytes were available (fewer means EOF)."""
    view = memoryview(out).cast("B")
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled : filled + _CHUNK])
        if not got:
            break
        filled += got
    return filled


def _check_magic(head: bytes, kind: str, name: str) -> None:
    want = expected_magic(kind)
    found = int.from_bytes(head, "big")
    if found == want:
        return
    what = f"{name}: magic number is 0x{found:08x}, expected 0x{want:08x} (IDX {kind}: uint8, {NDIM[kind]}-dimensional)."
    other = {expected_magic(k): k for k in NDIM if k != kind}
    if found in other:
        why = f"It is an IDX {other[found]} file: are the file names swapped?"
    elif head[:2] != b"\x00\x00":
        why = "This is not an IDX file (the first two bytes must be zero)."
    elif head[2] != UINT8:
        why = f"Its data type code is 0x{head[2]:02x}; only 0x08 (uint8) is supported."
    else:
        why = f"It declares {head[3]} dimension(s)."
    raise DataError(f"{what} {why} {_redo(name)}")


def _parse(stream, kind: str, name: str) -> np.ndarray:
    head = stream.read(4)
    if not head:
        raise DataError(f"{name} is empty (no content); expected an IDX {kind} file. {_redo(name)}")
    if len(head) < 4:
        raise DataError(f"{name} is truncated: {len(head)} byte(s), shorter than the 4-byte IDX magic number. {_redo(name)}")
    _check_magic(head, kind, name)
    ndim = head[3]
    header_size = 4 + 4 * ndim
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(
            f"{name} is truncated inside its header: expected {header_size} header bytes, "
            f"found {4 + len(dims_raw)}. {_redo(name)}"
        )
    dims = tuple(int.from_bytes(dims_raw[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    count = math.prod(dims)
    shape = " x ".join(map(str, dims))
    if count > _MAX_VALUES:
        raise DataError(f"{name}: its header declares {shape} values, which cannot be a real dataset; the header is corrupt. {_redo(name)}")
    out = np.empty(dims, dtype=np.uint8)
    filled = _read_into(stream, out)
    if filled < count:
        raise DataError(
            f"{name} is truncated: its header declares {shape} uint8 values "
            f"({header_size + count} bytes in all), but it holds only {header_size + filled} bytes. {_redo(name)}"
        )
    if stream.read(1):
        raise DataError(
            f"{name} has more data than its header declares ({shape} values, {header_size + count} bytes): "
            f"the header and the data disagree. {_redo(name)}"
        )
    return out


def read_idx(source, kind: str, name: str | None = None) -> np.ndarray:
    """Read one IDX file of ``kind`` ("images" or "labels") into a uint8 array.

    ``source`` is a path or an importlib.resources Traversable; ``name`` is how
    error messages call it (default: the path).
    """
    name = name or str(source)
    try:
        with open_content(source) as stream:
            return _parse(stream, kind, name)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{name}: the gzip data is truncated or corrupt ({exc}). {_redo(name)}") from None


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of a uint8 array of 1 (labels) or 3 (images) dimensions."""
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"IDX encoding takes a uint8 array of 1 or 3 dimensions, got {array.dtype} {array.shape}")
    header = bytes([0, 0, UINT8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def read_pair(images_source, labels_source, names: tuple[str, str] | None = None):
    """Read matching image and label files; returns (images [N, rows, cols], labels [N])."""
    image_name, label_name = names or (str(images_source), str(labels_source))
    images = read_idx(images_source, "images", image_name)
    labels = read_idx(labels_source, "labels", label_name)
    if len(images) != len(labels):
        raise DataError(
            f"{image_name} holds {len(images)} images but {label_name} holds {len(labels)} labels; "
            f"they must match one to one. One of them is from another dataset or was cut short: "
            f"replace both with a matching pair (delete them to download again)."
        )
    return images, labels
