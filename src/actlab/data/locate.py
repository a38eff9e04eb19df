"""Where the files of a dataset are looked for, in order.

1. the ``data_dir`` argument (the CLI's --data-dir): authoritative, so a folder
   without the files is an error rather than a silent download elsewhere;
2. the folder in $ACTLAB_DATA_DIR;
3. actlab's cache, ``cache_root()/<dataset>``;
4. folders a distribution package installs (Debian's /usr/share/datasets/fashion-mnist).

In 1 and 2 both ``DIR`` and ``DIR/<dataset>`` are accepted, and each file may be
``name.gz`` or the uncompressed ``name``.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DataError
from .sources import ENV_VAR, FILES, DatasetSpec, cache_root


def expected_names() -> str:
    return ", ".join(f"{stem}[.gz]" for stem in FILES.values())


def files_in(folder: Path) -> dict[str, Path]:
    """The dataset files present in ``folder`` (stem -> path); the uncompressed copy wins, it reads faster."""
    found = {}
    for stem in FILES.values():
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found[stem] = candidate
                break
    return found


def _complete(folders) -> dict[str, Path] | None:
    for folder in folders:
        found = files_in(folder)
        if len(found) == len(FILES):
            return found
    return None


def _user_folders(root: Path, dataset: str) -> list[Path]:
    return [root, root / dataset]


def _from_data_dir(data_dir, spec: DatasetSpec) -> dict[str, Path]:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data directory {root} does not exist; expected a folder holding the {spec.name} files "
            f"({expected_names()}) directly or in a '{spec.name}' subfolder. Fix the path, or leave out "
            f"--data-dir to use actlab's cache (which downloads the files when needed)."
        )
    folders = _user_folders(root, spec.name)
    found = _complete(folders)
    if found is None:
        partial = max((files_in(f) for f in folders), key=len)
        missing = [stem for stem in FILES.values() if stem not in partial]
        raise DataError(
            f"data directory {root} does not hold the {spec.name} dataset: looked in "
            f"{' and '.join(map(str, folders))} for {expected_names()}; missing: {', '.join(missing)}. "
            f"Put all four files (gzip-compressed or not) in one of those folders, or leave out --data-dir "
            f"to use actlab's cache (which downloads the files when needed)."
        )
    return found


def search_folders(spec: DatasetSpec) -> list[Path]:
    """The folders searched when no data_dir is given, in order."""
    folders = []
    env = os.environ.get(ENV_VAR, "")
    if env:
        folders += _user_folders(Path(env).expanduser(), spec.name)
    folders.append(cache_root() / spec.name)
    folders += [Path(p) for p in spec.system_dirs]
    return folders


def locate(spec: DatasetSpec, data_dir=None) -> dict[str, Path] | None:
    """Paths of the four files of ``spec`` (stem -> path), or None when no searched folder holds them all."""
    if data_dir is not None:
        return _from_data_dir(data_dir, spec)
    return _complete(search_folders(spec))
