"""Per-epoch checkpoints of unfinished runs, as files beside the results store.

``<study>/checkpoints/run-<id>-epoch-<k>.pt`` holds run ``id``'s state after
epoch ``k`` (weights, optimizer, random streams; see
``actlab.compare.engine``). Only the writing process (the study's lock
holder) touches them, in this order: write the checkpoint of epoch k
(atomically), commit epoch k to the store, delete the run's older
checkpoints. A kill between any two steps leaves a checkpoint for the last
committed epoch, which is where a resume continues; a run that ended has
none.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from .files import atomic_write, remove_temporaries

FOLDER = "checkpoints"
_NAME = re.compile(r"run-(\d+)-epoch-(\d+)\.pt")


class Checkpoints:
    """The checkpoint files of one study folder."""

    def __init__(self, study_folder):
        self.folder = Path(study_folder) / FOLDER

    def path(self, run_id: int, epoch: int) -> Path:
        return self.folder / f"run-{run_id}-epoch-{epoch}.pt"

    def read(self, run_id: int, epoch: int) -> Optional[bytes]:
        """The checkpoint after ``epoch``, or None when there is none."""
        path = self.path(run_id, epoch)
        return path.read_bytes() if epoch > 0 and path.is_file() else None

    def write(self, run_id: int, epoch: int, blob: bytes) -> None:
        self.folder.mkdir(exist_ok=True)
        with atomic_write(self.path(run_id, epoch)) as tmp:
            tmp.write_bytes(blob)

    def _files(self):
        if not self.folder.is_dir():
            return []
        return [(int(m[1]), int(m[2]), p) for p in self.folder.iterdir() if (m := _NAME.fullmatch(p.name))]

    def keep_only(self, run_id: int, epoch: Optional[int]) -> None:
        """Delete the run's checkpoints other than ``epoch``'s (all of them for None)."""
        for run, k, path in self._files():
            if run == run_id and k != epoch:
                path.unlink(missing_ok=True)

    def remove_ended(self, unfinished) -> None:
        """Delete the checkpoints of every run not in ``unfinished``; the folder too when it is left empty."""
        unfinished = set(unfinished)
        for run, _, path in self._files():
            if run not in unfinished:
                path.unlink(missing_ok=True)
        remove_temporaries(self.folder)  # a checkpoint half-written when its process was killed
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
