"""One writer per study: an exclusive lock on a file in the study folder.

``fcntl.flock`` on ``<folder>/.lock``: the kernel releases it when the
holder's process ends in any way (kill -9 included), so a stale lock never
blocks a resume, and two processes can never both hold it. The holder writes
its pid, host and start time into the file, only so that a refused second
process can say who holds the study.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".lock"


class StudyBusy(ValueError):
    """Another process is writing this study."""


class StudyLock:
    """Hold the study folder ``folder`` for writing (a context manager).

    Raises :class:`StudyBusy` at once, naming the holder, when another process holds it.

    Examples:
        >>> with StudyLock("runs/x"):   # doctest: +SKIP
        ...     ...                     # the only writer of runs/x
    """

    def __init__(self, folder, command: str = ""):
        self.path = Path(folder) / LOCK_NAME
        self.command = command
        self.fd = None

    def acquire(self) -> "StudyLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise StudyBusy(f"{self.path.parent} is in use by another actlab process ({_describe(holder)}); "
                            "one process writes a study at a time: wait for it to finish (or stop it), then "
                            "rerun to resume") from None
        self.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                  "command": self.command}).encode(), 0)
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)  # no stale holder named once we are gone
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "holder unknown: it has not written its details yet"
    text = f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
    return text + (f": {holder['command']}" if holder.get("command") else "")
