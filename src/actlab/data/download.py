"""Download dataset files from their mirrors, verified before they are kept.

Each file is streamed to a temporary file beside its destination, its
*decompressed* content is checked against the known SHA-256, and only then is it
renamed into place, so an interrupted or corrupt download never looks like a
good file. Mirrors are tried in order until one gives the right content.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

from tqdm import tqdm

from .errors import DataError
from .idx import GZIP_MAGIC, open_content
from .sources import DatasetSpec

TIMEOUT_S = 30
_CHUNK = 1 << 20


def _fetch(url: str, folder: Path, stem: str, progress: bool) -> Path:
    """Stream ``url`` into a temporary file in ``folder``; return its path."""
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{stem}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            size = response.headers.get("Content-Length")
            with tqdm(
                total=int(size) if size else None,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=url.rsplit("/", 1)[-1],
                disable=not progress,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def content_sha256(path: Path) -> str:
    """SHA-256 of the file's content, decompressed when it is gzip."""
    digest = hashlib.sha256()
    with open_content(path) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_name(tmp: Path, stem: str, want: str) -> str:
    """The file name to keep ``tmp`` under, or raise ValueError saying why it is rejected."""
    try:
        got = content_sha256(tmp)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"not a valid gzip file ({exc})") from None
    if got != want:
        raise ValueError(f"content SHA-256 is {got}, expected {want}; rejected as corrupt")
    with tmp.open("rb") as f:
        return f"{stem}.gz" if f.read(2) == GZIP_MAGIC else stem


def fetch_file(spec: DatasetSpec, stem: str, folder: Path, mirrors, progress: bool = True) -> str:
    """Download ``stem`` of ``spec`` into ``folder`` from the first mirror that serves the right content.

    Returns that mirror's base URL.
    """
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{stem}.gz"
        try:
            tmp = _fetch(url, folder, stem, progress)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        try:
            final = folder / _verified_name(tmp, stem, spec.sha256[stem])
        except ValueError as exc:
            tmp.unlink(missing_ok=True)
            failures.append(f"{url}: {exc}")
            continue
        os.replace(tmp, final)
        return base
    tried = "\n  ".join(failures) or "(no mirrors given)"
    raise DataError(
        f"could not download {stem}.gz of {spec.name}; every mirror failed:\n  {tried}\n"
        f"Check the network connection and try again, or fetch the four files yourself and "
        f"pass --data-dir (or set ACTLAB_DATA_DIR) to their folder."
    )


def download(spec: DatasetSpec, folder: Path, stems, mirrors=None, progress: bool = True) -> None:
    """Download the files ``stems`` of ``spec`` into ``folder`` (``mirrors`` default to the spec's)."""
    order = list(spec.mirrors if mirrors is None else mirrors)
    for stem in stems:
        good = fetch_file(spec, stem, folder, order, progress)
        # Ask the mirror that just worked first for the next file, so a dead
        # mirror costs one timeout rather than one per file.
        order.remove(good)
        order.insert(0, good)
