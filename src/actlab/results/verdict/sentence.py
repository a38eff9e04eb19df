"""The verdict: everything a reader needs to choose an activation, and one plain sentence that says it.

:func:`analyse` runs the whole chain on a study's results (clean the runs,
test all pairs with Holm's correction, bootstrap P(best) and rank intervals,
power for the pairs not separated, per-activation intervals inside the
metric's range) and :func:`verdict_sentence` turns it into the sentence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

from .bootstrap import BestProbability, best_probabilities
from .effect import bounded_mean_interval
from .pairs import PairTest, all_pairs
from .power import pair_power
from .samples import Samples, clean


@dataclass(frozen=True)
class PairPower:
    """For a pair not separated: the smallest difference detectable now, and seeds needed for the observed one."""

    detectable: float
    seeds_needed: Optional[int]


@dataclass(frozen=True)
class Verdict:
    """The analysed study: runs, per-activation means with bounded intervals, pairs, P(best), power.

    ``means``: ``{label: (mean, ci_low, ci_high)}`` (logit-scale interval,
    inside ``bounds``). ``pairs`` are oriented better-first. ``power`` has an
    entry for every pair not separated, keyed ``(a, b)``; it is computed at
    the Bonferroni level ``alpha / m`` so "seeds needed" matches a test that
    would survive the family-wise correction. ``sentence`` is the verdict.
    """

    samples: dict
    means: dict
    pairs: list
    best: dict
    power: dict
    alpha: float
    sentence: str
    scale: float = 100.0
    unit: str = "points"


def analyse(results: Mapping[str, Mapping[int, float]], status: Optional[Mapping[str, Mapping[int, str]]] = None,
            *, alpha: float = 0.05, higher_is_better: bool = True, bounds: tuple = (0.0, 1.0),
            resamples: int = 10_000, rng_seed: int = 0, scale: float = 100.0, unit: str = "points") -> Verdict:
    """Analyse a study's results per (activation, seed) and state the verdict.

    Args:
        results: ``{label: {seed: value}}`` (e.g. test accuracy).
        status: optional ``{label: {seed: "done" | "diverged" | "stopped" | ...}}``.
        alpha: family-wise error rate over all pairs.
        higher_is_better: orientation of the metric (False for a loss).
        bounds: the metric's range, for the per-activation intervals.
        resamples, rng_seed: the P(best) bootstrap.
        scale, unit: how differences are written (100, "points" turns accuracy into percentage points).

    Returns:
        a :class:`Verdict`.

    Examples:
        >>> v = analyse({"gelu": {0: .990, 1: .989, 2: .991}, "sigmoid": {0: .91, 1: .92, 2: .90}}, resamples=500)
        >>> v.sentence.startswith("Use gelu")
        True
    """
    samples = clean(results, status)
    values = {k: s.values for k, s in samples.items() if s.values}
    means = {k: bounded_mean_interval(list(v.values()), bounds=bounds) for k, v in values.items()}
    pairs = all_pairs(values, alpha=alpha, span=bounds[1] - bounds[0], higher_is_better=higher_is_better)
    best = best_probabilities(values, resamples=resamples, higher_is_better=higher_is_better, rng_seed=rng_seed)
    m = max(1, len(pairs))
    power = {}
    for r in pairs:
        if not r.separated(alpha):
            detectable, needed = pair_power(r, alpha=alpha / m)
            power[(r.a, r.b)] = PairPower(detectable, needed)
    draft = Verdict(samples, means, pairs, best, power, alpha, "", scale, unit)
    return Verdict(samples, means, pairs, best, power, alpha, verdict_sentence(draft, higher_is_better),
                   scale, unit)


def _join(labels, conjunction: str = "or") -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + f" {conjunction} " + labels[-1]


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}" if p >= 0.01 else f"p < {math.ceil(p * 100) / 100:.2f}"


def verdict_sentence(v: Verdict, higher_is_better: bool = True) -> str:
    """One plain paragraph: what to use, how sure, what it would take, who is worse, what diverged."""
    if not v.means:
        return "No activation finished a run; nothing can be compared."
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(v.means, key=lambda k: -sign * v.means[k][0])
    by_pair = {(r.a, r.b): r for r in v.pairs}
    by_pair.update({(r.b, r.a): r.flipped() for r in v.pairs})
    wins = {(r.a, r.b) for r in v.pairs if r.separated(v.alpha)}  # pairs are oriented better-first
    beaten = {k: [w for w in order if (w, k) in wins] for k in order}
    top = [k for k in order if not beaten[k]]
    # a paired difference over common seeds can disagree in sign with the overall means: lead with the unbeaten
    leader = top[0] if top else order[0]
    parts = []
    if len(top) == 1:
        parts.append(f"Use {leader}: it is better than every other activation (Holm "
                     f"{_p_text(max((r.p_holm for r in v.pairs if r.a == leader), default=math.nan))})."
                     if len(order) > 1 else f"Use {leader}: it is the only activation with finished runs.")
    else:
        runner = top[1]
        r = by_pair[(leader, runner)]
        n = min(r.n_a, r.n_b)
        need = v.power.get((r.a, r.b))
        take = ""
        if need and need.seeds_needed:
            take = (f"; {need.seeds_needed} seeds would separate a difference this size at 80% power"
                    if need.seeds_needed > n else "")
        who = "they are not separable" if len(top) == 2 else (
            f"no two of them are separable; the leading two, {leader} and {runner}, differ")
        if r.design == "none":
            parts.append(f"Use {_join(top)}: too few finished runs to compare them (2 or more each are needed).")
        else:
            parts.append(f"Use {_join(top)}: {who} with {n} seeds ({r.design}; difference "
                         f"{v.scale * r.diff:.2f} {v.unit}, 95% CI [{v.scale * r.ci_low:.2f}, "
                         f"{v.scale * r.ci_high:.2f}]{take}).")
    if leader in v.best and len(order) > 1 and v.samples[leader].n >= 2:  # one seed: the bootstrap is degenerate
        b = v.best[leader]
        ranks = f"{b.rank_low}" if b.rank_low == b.rank_high else f"{b.rank_low}-{b.rank_high}"
        parts.append(f"{leader} is best with probability {b.p_best:.2f}; its rank is {ranks} at 95%.")
    for k in order:
        if not beaten[k] or k in top:
            continue
        ps = [by_pair[(w, k)].p_holm for w in beaten[k]]
        who = "every other" if len(beaten[k]) == len(order) - 1 else _join(beaten[k], "and")
        parts.append(f"{k} is worse than {who} (Holm {_p_text(max(ps))}).")
    for k, s in v.samples.items():
        if s.diverged:
            parts.append(f"{k} diverged in {len(s.diverged)} of {s.planned} seeds.")
        if not s.values:
            parts.append(f"{k} has no finished run and is not ranked.")
    return " ".join(parts)
