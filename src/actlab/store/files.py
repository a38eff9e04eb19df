"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one."""
from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path, suffix: str = ""):
    """Yield a temporary path in ``path``'s folder; on success it replaces ``path`` in one ``os.replace``.

    The temporary file lives beside the target so the rename never crosses a
    file system; on an exception it is removed and ``path`` is untouched.
    ``suffix`` keeps the extension for writers that look at it (matplotlib).

    Examples:
        >>> with atomic_write("summary.csv") as tmp:   # doctest: +SKIP
        ...     tmp.write_text("rank,label\\n")
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# What atomic_write names its temporary files: '.' + the target's name + '.' + mkstemp's 8 random characters
# + the suffix.
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}(?P<suffix>\.[^.]+)?")


def remove_temporaries(folder) -> list[Path]:
    """Delete the temporary files of :func:`atomic_write` calls whose process was killed mid-write
    (kill -9 skips the clean-up); returns them. Only the folder's one writer may call it: another
    writer's temporary file would be in use.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and (m := _TEMPORARY.fullmatch(p.name))
             and (not m["suffix"] or m["target"].endswith(m["suffix"]))]
    for path in found:
        path.unlink(missing_ok=True)
    return found
