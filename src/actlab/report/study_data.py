"""Read everything the study report shows from a study folder, or say clearly why not.

The results store is the only source of numbers, read through
:class:`actlab.results.Study` (the same numbers as summary.csv and
``actlab.load``); ``config.json`` (written by
``actlab compare`` next to it) adds the data sizes and software versions.
A study that is still running is read as it is: finished runs are ranked,
unfinished ones are shown with the epochs they have so far.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..results import Study
from ..results.summary import Summary
from ..store import Store, StoreError

STORE_NAME = "results.sqlite"
REPORT_NAME = "report.html"


class ReportError(ValueError):
    """A folder that holds no readable study; the message says what to do."""


@dataclass
class StudyData:
    folder: Path
    study: dict  # the store's study row, with "config" decoded
    runs: list[dict]  # every planned run, with its "label"
    history: list[dict]  # one row per run x recorded epoch (see results.summary.history_rows)
    summary: Summary  # ranking over finished runs
    layer_stats: list[dict] = field(default_factory=list)  # with the run's "label" added
    info: Optional[dict] = None  # config.json, when present and readable
    info_problem: str = ""  # why config.json could not be used

    @property
    def config(self) -> dict:
        return self.study["config"]

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r["status"] == status)

    @property
    def in_progress(self) -> bool:
        return any(r["status"] in ("pending", "running") for r in self.runs)  # done, diverged, stopped: ended


def _not_a_study(folder: Path) -> ReportError:
    return ReportError(f"{folder} is not a study folder: it has no {STORE_NAME}; expected the --out folder "
                       "of 'actlab compare' (e.g. 'actlab compare --out runs/mnist', then "
                       "'actlab report runs/mnist')")


def load_study(folder) -> StudyData:
    """Everything in ``folder``'s results store; :class:`ReportError` when there is no usable study."""
    folder = Path(folder)
    if not folder.exists():
        raise ReportError(f"{folder} does not exist; give the --out folder of an 'actlab compare' study")
    if not folder.is_dir():
        raise ReportError(f"{folder} is a file, not a folder; give the --out folder of an 'actlab compare' study")
    path = folder / STORE_NAME
    if not path.is_file():
        raise _not_a_study(folder)
    try:
        with Store(path, readonly=True) as store:
            if store.study() is None:
                raise ReportError(f"{path} holds no study yet (the store is empty); start or resume it with "
                                  "'actlab compare --out " + str(folder) + "'")
            results = Study.read(store, folder)
    except StoreError as e:
        raise ReportError(str(e)) from None
    except sqlite3.Error as e:
        raise ReportError(f"{path} could not be read ({e}); it is damaged or not an actlab results store. "
                          "Re-run the study into a new --out folder") from None
    study, runs = results.study, results.run_rows
    if not runs:
        raise ReportError(f"{path} records a study but no runs; resume it with its command: {study['command']}")
    info, problem = _read_info(folder / "config.json")
    return StudyData(folder, study, runs, results.history_rows, results.summary, results.layer_stats, info,
                     problem)


def _read_info(path: Path) -> tuple[Optional[dict], str]:
    if not path.is_file():
        return None, f"{path.name} not found next to the store"
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{path.name} is unreadable ({e})"
    if not isinstance(info, dict):
        return None, f"{path.name} does not hold a JSON object"
    return info, ""
