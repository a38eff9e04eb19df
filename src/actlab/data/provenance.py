"""What data a study trains on: the SHA-256 of each file's decompressed content, and whose files they are.

The official hashes in :mod:`.sources` identify a file whatever its name or
folder: naming ``fashion-mnist`` and pointing ``--data-dir`` at MNIST (or the
reverse) is an error that says what the files are, instead of a study that
trains on one dataset under the other's name.
"""
from __future__ import annotations

import hashlib
from typing import Optional

from .errors import DataError
from .idx import open_content
from .sources import SPECS, DatasetSpec

CHUNK = 1 << 20


def content_sha256(source) -> str:
    """SHA-256 of a file's content, decompressed when it is gzip (a path or an importlib Traversable)."""
    digest = hashlib.sha256()
    with open_content(source) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def identify(sha256: str) -> Optional[tuple[str, str]]:
    """(dataset, file stem) of an official file with this hash, or None."""
    for spec in SPECS.values():
        for stem, known in spec.sha256.items():
            if known == sha256:
                return spec.name, stem
    return None


def fingerprint(spec: DatasetSpec, files: dict) -> dict:
    """stem -> {"path", "sha256", "official"} for ``files`` (stem -> path) of dataset ``spec``.

    ``official``: the hash is the published one of this very file. A file
    that is officially another dataset's (or another part's) raises
    :class:`DataError` saying what it is; a file known to no one (a private
    copy, a reprocessed set) is accepted and recorded as not official.
    """
    out = {}
    for stem, path in files.items():
        sha = content_sha256(path)
        known = identify(sha)
        if known is not None and known != (spec.name, stem):
            dataset, part = known
            hint = (f"use --dataset {dataset} for these files, or point --data-dir at the {spec.name} files"
                    if dataset != spec.name else f"rename it to {part}[.gz]")
            raise DataError(f"{path} is {dataset}'s official {part} (SHA-256 {sha[:12]}...), not {spec.name}'s "
                            f"{stem}: the folder holds {dataset}, not {spec.name}; {hint}")
        out[stem] = {"path": str(path), "sha256": sha, "official": known is not None}
    return out
