"""A raced study's decisions, read from race.json, for everything that shows the study's verdict.

``actlab compare --until-decided`` (:mod:`actlab.compare.race`) writes
race.json beside the store after every look: the settings (alpha, spending,
the planned looks, the tolerance, the metric) and each look's decided,
equivalent and open pairs with the plain statement of what is open and what
it would take. Those decisions hold their error rate over every look; the
summary's verdict (:func:`actlab.results.verdict.analyse`) tests the final
seeds once as if they had been planned, so after a race it is a
*description*. :func:`lead_with_race` puts the race first: the sentence of
``actlab.load(folder)``, the report and the printed ranking then start with
the race's decision and label the once-tested verdict as a description.

race.json is a plain file (no SQL): :func:`read_race` returns None when a
study was not raced, and a :class:`RaceView` that says it could not be read
when the file is damaged (the study itself is still readable).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .verdict.racing import amount_text

RACE_FILE = "race.json"
_STOPPED = {"decided": "decided: every pair is settled", "max_seeds": "stopped at its last planned look",
            "budget": "stopped by its time budget", None: "in progress (or interrupted): rerun its command to go on",
            "futile": "stopped early: nothing open was within reach of its planned seeds"}


@dataclass(frozen=True)
class RaceView:
    """The race as race.json records it.

    Attributes:
        path: the race.json file.
        settings: alpha, spending, first_seeds, max_seeds, max_looks, tolerance (metric units), scale, unit,
            goal ("ranking" or "best"), futility, method ("holm" or "bonferroni"; absent in older files).
        looks: one dict per look (``look``, ``seeds``, ``decided``, ``equivalent``, ``open``, ``active``,
            ``statement``), oldest first.
        stopped: "decided", "max_seeds", "futile", "budget", or None while the race runs (or was interrupted).
        seeds_used: ``{label: seeds its looks used}``.
        problem: why race.json could not be read ('' when it could).
    """

    path: Path
    settings: dict = field(default_factory=dict)
    looks: list = field(default_factory=list)
    stopped: Optional[str] = None
    seeds_used: dict = field(default_factory=dict)
    problem: str = ""

    @property
    def last(self) -> Optional[dict]:
        return self.looks[-1] if self.looks else None

    @property
    def decided(self) -> list[tuple[str, str]]:
        """``(better, worse)`` for every pair the race decided (at its last look)."""
        return [(d["better"], d["worse"]) for d in (self.last or {}).get("decided", [])]

    @property
    def equivalent(self) -> list[tuple[str, str]]:
        """``(a, b)`` for every pair the race decided equivalent within its tolerance."""
        return [(d["a"], d["b"]) for d in (self.last or {}).get("equivalent", [])]

    @property
    def open(self) -> list[tuple[str, str]]:
        """``(a, b)`` (better mean first) for every pair still open at the last look."""
        return [(d["a"], d["b"]) for d in (self.last or {}).get("open", [])]

    @property
    def tolerance_text(self) -> str:
        """The indifference zone as shown: '0.3 points' ('' when the race had none)."""
        tol = float(self.settings.get("tolerance") or 0.0)
        if not tol > 0:
            return ""
        return amount_text(float(self.settings.get("scale", 100.0)) * tol, self.settings.get("unit", "points"))

    @property
    def statement(self) -> str:
        """The race's decision in plain words: how it stopped, at which look, what is decided and open."""
        if self.problem:
            return f"This study was raced, but its {RACE_FILE} could not be read ({self.problem})."
        s = self.settings
        head = (f"Decided by the race (family-wise alpha {s.get('alpha', 0.05)} over all pairs and looks"
                + (f"; tolerance {self.tolerance_text}" if self.tolerance_text else "") + "): ")
        if self.last is None:
            return head + "no look yet (the first round is not finished); rerun the race's command to go on."
        stopped = ("decided: the best is known" if self.stopped == "decided" and s.get("goal") == "best"
                   else _STOPPED.get(self.stopped, self.stopped))
        where = (f"look {self.last['look']} of {s.get('max_looks', '?')}, {stopped}, "
                 f"seeds per activation {', '.join(f'{k} {n}' for k, n in self.seeds_used.items())}")
        body = " ".join(part for part in (self.choice, self.last.get('statement') or _rebuild(self)) if part)
        return f"{head}{body} ({where}.)"

    @property
    def choice(self) -> str:
        """What to use by the race's decisions alone: the activations no other was decided better than."""
        labels = list(self.settings.get("labels") or self.seeds_used)
        beaten = {worse for _, worse in self.decided}
        top = [k for k in labels if k not in beaten]
        if not top or len(labels) < 2:
            return ""
        if len(top) == 1 and self.settings.get("goal") == "best":  # A > B, B > C decided; A vs C never tested
            return f"Use {top[0]}: the race decided every other activation worse than another one."
        if len(top) == 1:
            return f"Use {top[0]}: the race decided it better than every other activation."
        return (f"Use {_names(top, 'or')}: the race decided no activation better than "
                f"{'either' if len(top) == 2 else 'any'} of them.")


def _names(labels, conjunction: str = "and") -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + f" {conjunction} " + labels[-1]


def read_race(folder) -> Optional[RaceView]:
    """The race of the study in ``folder`` (its race.json), or None when the study was not raced."""
    path = Path(folder) / RACE_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        looks = list(info["looks"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        return RaceView(path, problem=f"{type(e).__name__}: {e}")
    settings = {k: info.get(k) for k in ("alpha", "spending", "first_seeds", "max_seeds", "max_looks", "tolerance",
                                         "metric", "direction", "scale", "unit", "labels", "goal", "futility",
                                         "method")}
    settings = {k: v for k, v in settings.items() if v is not None}
    return RaceView(path, settings, looks, info.get("stopped"), dict(info.get("seeds_used") or {}))


def _rebuild(race: RaceView) -> str:
    """A statement from the recorded pairs alone (race.json written before statements were recorded)."""
    scale, unit = float(race.settings.get("scale", 100.0)), race.settings.get("unit", "points")
    parts = [f"{b} is worse than {a}." for a, b in race.decided]
    parts += [f"{a} and {b} are within {race.tolerance_text} of each other." for a, b in race.equivalent]
    for d in race.last.get("open", []):
        diff = d.get("diff", math.nan)
        parts.append(f"Open: {d['a']} vs {d['b']} (difference {scale * diff:.2f} {unit}).")
    return " ".join(parts) or "No pairs to compare."


def lead_with_race(summary, folder):
    """``summary`` with its verdict's sentence led by the race's decision when ``folder`` holds a raced study.

    The once-tested sentence follows, labelled as a description. Returns ``summary`` itself (its ``verdict``
    replaced by a copy with the new sentence) so every reader of the sentence (``actlab.load``, the report,
    the printed ranking) says the same; unchanged when the study was not raced or no run finished.
    """
    race = read_race(folder) if folder is not None else None
    if race is None or summary.verdict is None:
        return summary
    described = ("Described, not decided (the final seeds tested once, ignoring the race's looks, so not "
                 "error-controlled across them): " + summary.verdict.sentence)
    summary.verdict = dataclasses.replace(summary.verdict, sentence=f"{race.statement} {described}")
    return summary


__all__ = ["RACE_FILE", "RaceView", "lead_with_race", "read_race"]
