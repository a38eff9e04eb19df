"""Which runs enter the statistics: finished runs with a finite value; the others are counted, not averaged.

A study's results arrive as ``{label: {seed: value}}`` with an optional
``{label: {seed: status}}`` beside them (``done``, ``diverged``, ``stopped``,
or anything else for runs not finished yet). Only ``done`` runs with a finite
value are compared: a diverged run has no meaningful accuracy, and a run
stopped early (ASHA) ended before the others' last epoch, so its value is not
comparable with theirs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

DONE, DIVERGED, STOPPED = "done", "diverged", "stopped"


@dataclass(frozen=True)
class Samples:
    """One activation's usable values by seed, and the seeds left out, by reason.

    Args:
        label: the activation's label.
        values: ``{seed: value}`` of finished runs with a finite value.
        diverged: seeds whose run diverged (status ``diverged`` or a non-finite value).
        stopped: seeds stopped early (status ``stopped``).
        unfinished: seeds with any other status (pending, running, failed).
    """

    label: str
    values: dict
    diverged: tuple = ()
    stopped: tuple = ()
    unfinished: tuple = ()

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def planned(self) -> int:
        return self.n + len(self.diverged) + len(self.stopped) + len(self.unfinished)


def clean(results: Mapping[str, Mapping[int, float]],
          status: Optional[Mapping[str, Mapping[int, str]]] = None) -> dict[str, Samples]:
    """Split each activation's runs into usable values and counted exclusions.

    Args:
        results: ``{label: {seed: value}}``; ``None`` or NaN values count as diverged.
        status: optional ``{label: {seed: status}}``; a missing entry means ``done``.

    Returns:
        ``{label: Samples}`` in the order of ``results``.

    Examples:
        >>> s = clean({"relu": {0: 0.98, 1: float("nan")}})["relu"]
        >>> s.values, s.diverged
        ({0: 0.98}, (1,))
    """
    out = {}
    for label, by_seed in results.items():
        states = (status or {}).get(label, {})
        values, diverged, stopped, unfinished = {}, [], [], []
        for seed in sorted(set(by_seed) | set(states)):
            state = states.get(seed, DONE)
            value = by_seed.get(seed)
            if state == DIVERGED or (state == DONE and (value is None or not math.isfinite(value))):
                diverged.append(seed)
            elif state == STOPPED:
                stopped.append(seed)
            elif state != DONE:
                unfinished.append(seed)
            else:
                values[seed] = float(value)
        out[label] = Samples(label, values, tuple(diverged), tuple(stopped), tuple(unfinished))
    return out
