"""The search space of ``actlab tune`` and the samplers that propose points in it.

Syntax (``--space``): comma-separated ``key=spec`` items, where ``spec`` is
``LOW..HIGH`` (a range; add ``:log`` to sample it on a log scale) or
``V1|V2|...`` (a choice). Keys are the training settings a compare grid may
vary (lr, batch_size, clip_value, ...); integer settings give integer ranges.

    lr=1e-4..1e-2:log,batch_size=64|128

Samplers: ``tpe`` (Optuna's Tree-structured Parzen Estimator, the default)
and ``random`` (Optuna's) need the optional package optuna; ``grid`` is a
plain grid (every range cut into ``points`` values, log-spaced for ``:log``)
and needs nothing. Every proposal is a pure function of the finished trials
and a seed derived from (tune seed, activation, trial number), so an
interrupted study proposes the same points again when resumed.
"""
from __future__ import annotations

import hashlib
import itertools
import math
import random
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

from ..compare.sweep import GRID_KEYS, Study, SweepError, parse_value

SAMPLERS = ("tpe", "random", "grid")


@dataclass(frozen=True)
class Param:
    """One searched setting: a range (``low``..``high``, ``log``) or a list of ``choices``."""

    name: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    choices: tuple = ()

    @property
    def integer(self) -> bool:
        return not self.choices and isinstance(self.low, int)

    def grid_values(self, points: int) -> tuple:
        """The choices, or ``points`` values spread over the range (geometrically for log ranges)."""
        if self.choices:
            return self.choices
        if points == 1:
            return (self.low,)
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            values = [math.exp(a + (b - a) * i / (points - 1)) for i in range(points)]
        else:
            values = [self.low + (self.high - self.low) * i / (points - 1) for i in range(points)]
        if self.integer:
            return tuple(dict.fromkeys(int(round(v)) for v in values))
        return tuple(float(f"{v:.6g}") for v in values)

    def as_dict(self) -> dict:
        if self.choices:
            return {"name": self.name, "choices": list(self.choices)}
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log}

    def text(self) -> str:
        if self.choices:
            return f"{self.name}=" + "|".join(str(c) for c in self.choices)
        return f"{self.name}={self.low:g}..{self.high:g}" + (":log" if self.log else "")


def parse_space(text: str) -> tuple:
    """'lr=1e-4..1e-2:log,batch_size=64|128' -> (Param, ...); raises SweepError on anything malformed."""
    params: dict[str, Param] = {}
    for item in (t.strip() for t in text.split(",")):
        key, sep, spec = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not spec.strip():
            raise SweepError(f"--space item {item!r} is malformed; expected key=LOW..HIGH[:log] or key=V1|V2, "
                             "e.g. lr=1e-4..1e-2:log,batch_size=64|128")
        if key not in GRID_KEYS:
            raise SweepError(f"--space cannot search {key!r}; it can search {', '.join(GRID_KEYS)}")
        if key in params:
            raise SweepError(f"--space names {key!r} twice")
        params[key] = _parse_param(key, spec.strip())
    return tuple(params.values())


def _parse_param(key: str, spec: str) -> Param:
    if ".." not in spec:
        return Param(key, choices=tuple(dict.fromkeys(parse_value(key, v) for v in spec.split("|"))))
    body, _, scale = spec.partition(":")
    if scale not in ("", "log"):
        raise SweepError(f"--space {key}={spec}: unknown scale {scale!r}; only ':log' is understood")
    default = Study.__dataclass_fields__[key].default
    if isinstance(default, (bool, str)):
        raise SweepError(f"--space {key}={spec}: {key} is not numeric; give its values as {key}=A|B")
    low, high = (parse_value(key, v) for v in body.split("..", 1))
    if low is None or high is None or not low < high:
        raise SweepError(f"--space {key}={spec}: the range needs LOW < HIGH (got {low!r}..{high!r})")
    if scale == "log" and low <= 0:
        raise SweepError(f"--space {key}={spec}: a log range needs LOW > 0")
    return Param(key, low, high, log=scale == "log")


def trial_seed(tune_seed: int, activation: str, number: int) -> int:
    """The sampler seed for one proposal (32 bits, as Optuna's samplers take)."""
    return int.from_bytes(hashlib.sha256(f"{tune_seed}:{activation}:{number}".encode()).digest()[:4], "big")


def grid_points(space: Sequence[Param], points: int) -> list[dict]:
    """Every combination of the parameters' grid values, in a fixed order."""
    names = [p.name for p in space]
    return [dict(zip(names, combo)) for combo in itertools.product(*(p.grid_values(points) for p in space))]


def propose(sampler: str, space: Sequence[Param], finished: Sequence[tuple], *, tune_seed: int,
            activation: str, number: int, points: int = 4) -> dict:
    """The parameters of trial ``number`` of ``activation``, given ``finished`` (params, score) pairs of its
    earlier trials. The grid visits its points in one shuffled order, the same for every activation, so that
    a grid cut short by ``--trials`` still compares activations at the same points."""
    if sampler == "grid":
        grid = grid_points(space, points)
        random.Random(tune_seed).shuffle(grid)
        return grid[number % len(grid)]
    if sampler not in SAMPLERS:
        raise SweepError(f"--sampler {sampler!r} is unknown; expected one of {', '.join(SAMPLERS)}")
    return _optuna_propose(sampler, space, finished, trial_seed(tune_seed, activation, number))


def _optuna_propose(sampler: str, space: Sequence[Param], finished: Sequence[tuple], seed: int) -> dict:
    from ..compare.events import require_extra

    optuna = require_extra("optuna", "tune", f"--sampler {sampler}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = optuna.distributions
    distributions = {}
    for p in space:
        if p.choices:
            distributions[p.name] = dist.CategoricalDistribution(list(p.choices))
        elif p.integer:
            distributions[p.name] = dist.IntDistribution(p.low, p.high, log=p.log)
        else:
            distributions[p.name] = dist.FloatDistribution(p.low, p.high, log=p.log)
    make = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}[sampler]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(direction="maximize", sampler=make(seed=seed))
        for params, score in finished:
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=distributions, value=0.0 if score is None else score))
        return study.ask(distributions).params
