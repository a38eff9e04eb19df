"""The verdict: everything a reader needs to choose an activation, and one plain sentence that says it.

:func:`analyse` runs the whole chain on a study's results (clean the runs,
test all pairs with Holm's correction, P(best) and rank intervals (a paired t posterior),
power for the pairs not separated, per-activation intervals inside the
metric's range) and :func:`verdict_sentence` turns it into the sentence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from ..stats import summarize
from .bootstrap import best_probabilities
from .effect import bounded_mean_interval
from .pairs import all_pairs
from .power import pair_power
from .samples import clean


@dataclass(frozen=True)
class PairPower:
    """For a pair not separated: the smallest difference detectable now, and seeds needed for the observed one."""

    detectable: float
    seeds_needed: Optional[int]


@dataclass(frozen=True)
class Verdict:
    """The analysed study: runs, per-activation means with bounded intervals, pairs, P(best), power.

    ``means``: ``{label: (mean, ci_low, ci_high)}`` (inside ``bounds``: see
    :func:`mean_interval`). ``pairs`` are oriented better-first. ``power`` has an
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
    families: tuple = ()  # a study with a grid: ((grid point, its own Verdict), ...); () for one family


def mean_interval(values, bounds: tuple = (0.0, 1.0), confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): an interval of the mean that respects the metric's range ``bounds``.

    A metric bounded on both sides (accuracy in [0, 1]) gets the logit-scale
    interval (:func:`.effect.bounded_mean_interval`). One with an open side
    (bits per character or an RMSE in [0, inf)) gets the plain t interval,
    intersected with the range: the true mean lies in the range, so cutting
    off the impossible part never lowers the coverage. NaN below two values.

    Examples:
        >>> [round(v, 4) for v in mean_interval([2.1, 2.2, 2.3], bounds=(0.0, float("inf")))]
        [2.2, 1.9516, 2.4484]
    """
    lo, hi = bounds
    if math.isfinite(lo) and math.isfinite(hi):
        return bounded_mean_interval(list(values), confidence, bounds=bounds)
    s = summarize(list(values), confidence)
    if s.n < 2:
        return s.mean, math.nan, math.nan
    return s.mean, max(lo, s.ci_low), min(hi, s.ci_high)


def analyse(results: Mapping[str, Mapping[int, float]], status: Optional[Mapping[str, Mapping[int, str]]] = None,
            *, alpha: float = 0.05, higher_is_better: bool = True, bounds: tuple = (0.0, 1.0),
            resamples: int = 10_000, rng_seed: int = 0, scale: float = 100.0, unit: str = "points") -> Verdict:
    """Analyse a study's results per (activation, seed) and state the verdict.

    Args:
        results: ``{label: {seed: value}}`` (e.g. test accuracy).
        status: optional ``{label: {seed: "done" | "diverged" | "stopped" | ...}}``.
        alpha: family-wise error rate over all pairs.
        higher_is_better: orientation of the metric (False for a loss).
        bounds: the metric's range, for the per-activation intervals and pair intervals (``inf`` where open).
        resamples, rng_seed: the P(best) draws (a paired t posterior; see :mod:`.bootstrap`).
        scale, unit: how differences are written (100, "points" turns accuracy into percentage points; 1,
            "bits per character" keeps another metric's own units, written to three significant digits).

    Returns:
        a :class:`Verdict`.

    Examples:
        >>> v = analyse({"gelu": {0: .990, 1: .989, 2: .991}, "sigmoid": {0: .91, 1: .92, 2: .90}}, resamples=500)
        >>> v.sentence.startswith("Use gelu")
        True
    """
    samples = clean(results, status)
    values = {k: s.values for k, s in samples.items() if s.values}
    means = {k: mean_interval(v.values(), bounds=bounds) for k, v in values.items()}
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


def combine_verdicts(parts: Sequence[tuple[str, "Verdict"]]) -> Verdict:
    """One verdict of a study with a grid, from each grid point's own (``parts``: ``[(point, verdict)]``,
    ``point`` as labels show it, e.g. 'depth=4'; labels unique across points).

    ``samples``, ``means``, ``pairs``, ``best`` and ``power`` are the union (no pair crosses grid points;
    P(best) sums to 1 within each); ``families`` keeps the parts; the sentence is one paragraph per grid
    point (:func:`grid_paragraph`), separated by a blank line.
    """
    if not parts:
        raise ValueError("combine_verdicts needs at least one (grid point, verdict); got none")
    first = parts[0][1]

    def union(name: str) -> dict:
        return {k: x for _, v in parts for k, x in getattr(v, name).items()}

    return Verdict(union("samples"), union("means"), [r for _, v in parts for r in v.pairs], union("best"),
                   union("power"), first.alpha, "\n\n".join(grid_paragraph(p, v) for p, v in parts),
                   first.scale, first.unit, tuple(parts))


def grid_paragraph(point: str, v: Verdict) -> str:
    """One grid point's sentence, headed by it and with its labels' ' [point]' dropped (said once in front).

    Examples:
        >>> v = analyse({"tanh [depth=4]": {0: .9, 1: .91}, "relu [depth=4]": {0: .5, 1: .52}}, resamples=200)
        >>> grid_paragraph("depth=4", v).split(":")[0:2]
        ['At depth=4', ' use tanh']
    """
    text = v.sentence.replace(f" [{point}]", "")
    return f"At {point}: {text[:1].lower()}{text[1:]}"


def _join(labels, conjunction: str = "or") -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + f" {conjunction} " + labels[-1]


def _diff_text(v: Verdict, x: float) -> str:
    """A difference as the sentence writes it: accuracy points to two decimals, other units to 3 digits."""
    return f"{v.scale * x:.2f}" if v.unit == "points" else f"{v.scale * x:.3g}"


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
                         f"{_diff_text(v, r.diff)} {v.unit}, 95% CI [{_diff_text(v, r.ci_low)}, "
                         f"{_diff_text(v, r.ci_high)}]{take}).")
    if leader in v.best and len(order) > 1 and v.samples[leader].n >= 2:  # one seed: no spread to draw from
        b = v.best[leader]
        ranks = f"{b.rank_low}" if b.rank_low == b.rank_high else f"{b.rank_low}-{b.rank_high}"
        # Among activations the tests do not separate, a high P(best) overstates: in simulation such
        # leaders with P(best) >= 0.9 were truly best 65-89% of the time (docs/racing.md, "P(best)").
        caveat = (f" (read: probably best; {leader} is not separated from {_join(k for k in top if k != leader)},"
                  " and among close activations a P(best) above 0.9 was right 65-89% of the time in"
                  " simulation)" if len(top) > 1 and b.p_best >= 0.9 else "")
        parts.append(f"{leader} is best with probability {b.p_best:.2f}{caveat}; its rank is {ranks} at 95%.")
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
