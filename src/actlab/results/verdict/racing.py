r"""Racing: add seeds only where the ranking is still open, with the error rate controlled across looks.

**Sequential rule.** The study is looked at up to ``max_looks`` times (for
example after 3, 4, ..., seeds). Look ``k`` of ``K`` has information fraction
:math:`t_k = k/K` and may spend

.. math:: \Delta\alpha_k = \alpha^*(t_k) - \alpha^*(t_{k-1})

of the family-wise error rate, where :math:`\alpha^*` is a Lan-DeMets
spending function (Lan & DeMets 1983, Biometrika 70(3)):

- ``pocock``: :math:`\alpha^*(t) = \alpha\ln(1 + (e-1)t)` (spends early, so
  clear losers are dropped after few seeds);
- ``obf`` (O'Brien-Fleming type): :math:`\alpha^*(t) = 2 - 2\Phi(z_{1-\alpha/2}/\sqrt t)`
  (spends almost nothing early, keeps nearly all of alpha for the end).

At look ``k`` every still-open pair whose two activations are both still
sampled is tested (paired t-test where the seeds allow, else Welch), and is
decided when :math:`p < \Delta\alpha_k / m`, ``m`` being the number of pairs
at the start. By the union bound over looks and pairs, the probability of
any false "worse than" claim over the whole race is at most
:math:`\sum_k \Delta\alpha_k = \alpha` whatever the correlation between
looks; it stays valid with data-dependent stopping because a pair is only
ever tested while both of its activations receive every new seed, so its own
sample sizes follow the fixed schedule until it is decided. The price of
that simplicity is conservatism: exact group-sequential boundaries would be
less strict.

**Goals.** ``goal="ranking"``: an activation keeps receiving seeds while any
of its pairs is open. ``goal="best"``: an activation stops as soon as it is
declared worse than another one (it cannot be the best); pairs between two
stopped or one stopped activation are no longer tested.

**Synchronous successive halving.** :func:`halving_stops` decides a rung of
ASHA-style early stopping from the whole rung at once (successive halving,
Jamieson & Talwalkar 2016; Li et al. 2020 for the asynchronous variant), so
the result does not depend on which run reached the rung first.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Mapping, Optional

from scipy import stats as st

from .pairs import NONE, PairTest, compare_pair
from .power import pair_power


def spent(t: float, alpha: float = 0.05, kind: str = "pocock") -> float:
    r"""Cumulative alpha a Lan-DeMets spending function allows by information fraction ``t`` in [0, 1].

    Examples:
        >>> round(spent(1.0, 0.05, "obf"), 6), round(spent(1.0, 0.05, "pocock"), 6)
        (0.05, 0.05)
    """
    if not 0 <= t <= 1:
        raise ValueError(f"information fraction must lie in [0, 1] (got {t!r})")
    if t == 0:
        return 0.0
    if kind == "pocock":
        return alpha * math.log(1 + (math.e - 1) * t)
    if kind == "obf":
        return float(2 - 2 * st.norm.cdf(st.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    raise ValueError(f"spending must be 'pocock' or 'obf' (got {kind!r})")


@dataclass(frozen=True)
class Look:
    """The state of a race after one look.

    Attributes:
        look, max_looks: this look's number (1-based) and the planned maximum.
        alpha_look: the share of alpha spent at this look (before dividing by the pairs).
        decided: ``{(winner, loser): PairTest}`` for every pair decided so far (this look or earlier).
        open: the pairs still tested and undecided at this look, oriented better-first.
        active: the activations that need more seeds (the caller adds seeds to these only).
        settled: the activations whose place is decided (no more seeds needed).
        finished: True when nothing is open any more or this was the last look.
        statement: plain language: what is decided, what is open, what it would take (computed on
            first use: its power calculations are the slow part of a look).
    """

    look: int
    max_looks: int
    alpha_look: float
    decided: dict
    open: list
    active: list
    settled: list
    finished: bool
    pairs_total: int
    alpha: float
    scale: float = 100.0
    unit: str = "points"

    @functools.cached_property
    def statement(self) -> str:
        return _statement(self.decided, self.open, self.active, self.look, self.max_looks, self.finished,
                          self.alpha, self.scale, self.unit)


def race_look(values: Mapping[str, Mapping[int, float]], *, look: int, max_looks: int, alpha: float = 0.05,
              spending: str = "pocock", goal: str = "ranking", previous: Optional[Look] = None,
              higher_is_better: bool = True, scale: float = 100.0, unit: str = "points") -> Look:
    """Decide, after one look, which pairs are settled and which activations need more seeds.

    Args:
        values: ``{label: {seed: value}}`` of finished runs so far (see :func:`.samples.clean`).
        look: this look's number, 1 to ``max_looks``.
        max_looks: the most looks the race may take (fixes the spending schedule in advance).
        alpha: family-wise error rate over all pairs and all looks.
        spending: ``"pocock"`` or ``"obf"`` (see the module docstring).
        goal: ``"ranking"`` (settle every pair) or ``"best"`` (only find the best).
        previous: the previous look's result (None at look 1).
        higher_is_better: orientation of the metric.
        scale, unit: how differences are written in the statement (100, "points" for accuracy).

    Returns:
        a :class:`Look`.
    """
    if not (isinstance(look, int) and isinstance(max_looks, int) and 1 <= look <= max_looks):
        raise ValueError(f"look must be an integer from 1 to max_looks={max_looks!r} (got {look!r})")
    if goal not in ("ranking", "best"):
        raise ValueError(f"goal must be 'ranking' or 'best' (got {goal!r})")
    labels = [k for k in values if values[k]]
    m = previous.pairs_total if previous else len(labels) * (len(labels) - 1) // 2
    active = list(previous.active) if previous else labels
    decided = dict(previous.decided) if previous else {}
    alpha_look = spent(look / max_looks, alpha, spending) - spent((look - 1) / max_looks, alpha, spending)
    level = alpha_look / max(m, 1)
    sign = 1.0 if higher_is_better else -1.0
    done_pairs = {frozenset(k) for k in decided}
    open_pairs = []
    for i, x in enumerate(active):
        for y in active[i + 1:]:
            if frozenset((x, y)) in done_pairs:
                continue
            r = compare_pair(values[x], values[y], label_a=x, label_b=y, details=False)
            r = r.flipped() if sign * r.diff < 0 else r
            if r.design != NONE and not math.isnan(r.p) and r.p < level:
                decided[(r.a, r.b)] = r
            else:
                open_pairs.append(r)
    if goal == "ranking":
        still = [k for k in active if any(k in (r.a, r.b) for r in open_pairs)]
    else:
        losers = {loser for _, loser in decided}
        still = [k for k in active if k not in losers]
        open_pairs = [r for r in open_pairs if r.a in still and r.b in still]
        if len(still) < 2:
            still = []
    finished = not still or look == max_looks
    settled = [k for k in labels if k not in still]
    return Look(look, max_looks, alpha_look, decided, open_pairs, still, settled, finished, m, alpha, scale, unit)


def _statement(decided, open_pairs, still, look, max_looks, finished, alpha, scale, unit) -> str:
    parts = []
    losers = {}
    for (winner, loser) in decided:
        losers.setdefault(loser, []).append(winner)
    for loser, winners in losers.items():
        parts.append(f"{loser} is worse than {', '.join(sorted(winners))}.")
    if not open_pairs:
        parts.append("Nothing is open: the race is decided." if decided else "No pairs to compare.")
        return " ".join(parts)
    for r in open_pairs:
        _, need = pair_power(r, alpha=alpha / max(1, len(open_pairs)))
        n_now = max(r.n_a, r.n_b)
        need_text = (f"about {need} seeds each would separate a difference this size at 80% power"
                     if need else "no number of seeds would separate them (no difference observed)")
        parts.append(f"Open: {r.a} vs {r.b} (difference {scale * r.diff:.2f} {unit} with {n_now} seeds; "
                     f"{need_text}).")
    if finished and look == max_looks:
        parts.append(f"Stopped at the last planned look ({look} of {max_looks}); the open pairs stay open.")
    else:
        parts.append(f"Look {look} of {max_looks}: add seeds to {', '.join(still)}.")
    return " ".join(parts)


def halving_stops(scores: Mapping[str, float], *, eta: int = 3, higher_is_better: bool = True) -> list[str]:
    """The configurations a synchronous successive-halving rung stops: all but the best ``max(1, n // eta)``.

    The decision uses only the whole rung's scores, never their arrival
    order: configurations are ordered by score (non-finite scores, i.e.
    diverged runs, last), ties broken by the configuration's key in sorted
    order, and the best ``max(1, n // eta)`` continue (the same keep-count as
    :class:`actlab.compare.asha.Asha`).

    Args:
        scores: ``{config key: validation metric at this rung}``.
        eta: reduction factor (integer >= 2).
        higher_is_better: orientation of the metric.

    Returns:
        the stopped keys, sorted.

    Examples:
        >>> halving_stops({"sigmoid": 0.60, "relu": 0.85, "gelu": 0.82, "tanh": 0.80, "selu": 0.81, "elu": 0.83})
        ['gelu', 'selu', 'sigmoid', 'tanh']
    """
    if not isinstance(eta, int) or eta < 2:
        raise ValueError(f"eta must be an integer of at least 2 (got {eta!r})")
    sign = 1.0 if higher_is_better else -1.0

    def key(k):
        v = scores[k]
        finite = v is not None and math.isfinite(v)
        return (not finite, -sign * v if finite else 0.0, k)

    order = sorted(scores, key=key)
    keep = max(1, len(order) // eta)
    return sorted(order[keep:])
