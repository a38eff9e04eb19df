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

**Practical equivalence** (``tolerance`` D > 0, an indifference zone). At
the same look the same pair's simultaneous interval, at confidence
:math:`1 - \Delta\alpha_k/m`, decides "equivalent within D" when it lies
inside :math:`[-D, D]`: two one-sided tests (Schuirmann 1987), each at
level :math:`\Delta\alpha_k/(2m)`, inside the same alpha spending
(group-sequential equivalence: Jennison & Turnbull 2000, ch. 6). Error
control: for a true difference d > 0 (a better), both false claims, "b
better" and (when d >= D) "equivalent", need the interval's upper end below
d, which happens with probability at most half the look's level; when d = 0
only a directional claim can be false, with probability at most the level.
So each pair at each look adds at most :math:`\Delta\alpha_k/m` to the
chance of any false claim, and the union bound keeps the family-wise error
over all claims, directional and equivalence, at most alpha across all
pairs and looks. A decided (worse/better) pair is never re-tested for
equivalence and vice versa.

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
from dataclasses import dataclass, field
from typing import Mapping, Optional

from scipy import stats as st

from .pairs import NONE, compare_pair
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
        equivalent: ``{(a, b): PairTest}`` for every pair decided "equivalent within ``tolerance``" so far
            (its interval at the look's level lies inside [-tolerance, tolerance]; ``a`` has the better mean).
        tolerance: the indifference zone D in the metric's units (0: no equivalence decisions).
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
    equivalent: dict = field(default_factory=dict)
    tolerance: float = 0.0

    @functools.cached_property
    def statement(self) -> str:
        return _statement(self.decided, self.open, self.active, self.look, self.max_looks, self.finished,
                          self.alpha, self.scale, self.unit, self.equivalent, self.tolerance,
                          self.alpha_look / max(1, self.pairs_total))


def race_look(values: Mapping[str, Mapping[int, float]], *, look: int, max_looks: int, alpha: float = 0.05,
              spending: str = "pocock", goal: str = "ranking", previous: Optional[Look] = None,
              higher_is_better: bool = True, scale: float = 100.0, unit: str = "points",
              tolerance: float = 0.0, span: float = 1.0) -> Look:
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
        tolerance: the indifference zone D in the metric's own units (0.003 for 0.3 accuracy points); a
            pair whose interval at this look's level lies inside [-D, D] is decided equivalent. 0: off.
        span: the largest possible |difference| (1 for accuracy, inf for an unbounded metric).

    Returns:
        a :class:`Look`.
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0 in the metric's units (got {tolerance!r})")
    if not (isinstance(look, int) and isinstance(max_looks, int) and 1 <= look <= max_looks):
        raise ValueError(f"look must be an integer from 1 to max_looks={max_looks!r} (got {look!r})")
    if goal not in ("ranking", "best"):
        raise ValueError(f"goal must be 'ranking' or 'best' (got {goal!r})")
    labels = [k for k in values if values[k]]
    m = previous.pairs_total if previous else len(labels) * (len(labels) - 1) // 2
    active = list(previous.active) if previous else labels
    decided = dict(previous.decided) if previous else {}
    equivalent = dict(previous.equivalent) if previous else {}
    alpha_look = spent(look / max_looks, alpha, spending) - spent((look - 1) / max_looks, alpha, spending)
    level = alpha_look / max(m, 1)
    sign = 1.0 if higher_is_better else -1.0
    done_pairs = {frozenset(k) for k in decided} | {frozenset(k) for k in equivalent}
    open_pairs = []
    for i, x in enumerate(active):
        for y in active[i + 1:]:
            if frozenset((x, y)) in done_pairs:
                continue
            # the interval at this look's level: excluding 0 <=> p < level; inside [-D, D] <=> TOST at level/2
            r = compare_pair(values[x], values[y], label_a=x, label_b=y, details=False, confidence=1 - level,
                             span=span)
            r = r.flipped() if sign * r.diff < 0 else r
            if r.design != NONE and not math.isnan(r.p) and r.p < level:
                decided[(r.a, r.b)] = r
            elif tolerance > 0 and r.design != NONE and -tolerance <= r.ci_low and r.ci_high <= tolerance:
                equivalent[(r.a, r.b)] = r
            else:
                open_pairs.append(r)
    if goal == "ranking":
        still = [k for k in active if any(k in (r.a, r.b) for r in open_pairs)]
    else:
        losers = {loser for _, loser in decided}
        still = [k for k in active if k not in losers]
        open_pairs = [r for r in open_pairs if r.a in still and r.b in still]
        if len(still) < 2 or not open_pairs:  # one contender left, or the contenders are all decided equivalent
            still = []
    finished = not still or look == max_looks
    settled = [k for k in labels if k not in still]
    return Look(look, max_looks, alpha_look, decided, open_pairs, still, settled, finished, m, alpha, scale, unit,
                equivalent, float(tolerance))


def equivalent_groups(pairs, labels=None) -> list[list[str]]:
    """Groups of activations every two of which were decided equivalent, for the statement.

    The connected parts of the "decided equivalent" graph; a part in which some pair is not itself decided
    equivalent (equivalence is not transitive) is split into its decided pairs.

    Args:
        pairs: the equivalent pairs, ``(a, b)`` tuples (e.g. the keys of :attr:`Look.equivalent`).
        labels: the order to name activations in (default: first appearance).

    Examples:
        >>> equivalent_groups([("relu", "elu"), ("elu", "gelu"), ("relu", "gelu"), ("tanh", "selu")])
        [['relu', 'elu', 'gelu'], ['tanh', 'selu']]
        >>> equivalent_groups([("relu", "elu"), ("elu", "gelu")])
        [['relu', 'elu'], ['elu', 'gelu']]
    """
    pairs = [tuple(p) for p in pairs]
    order = list(labels) if labels is not None else list(dict.fromkeys(x for p in pairs for x in p))
    order += [x for p in pairs for x in p if x not in order]
    linked = {frozenset(p) for p in pairs}
    seen, groups = set(), []
    for start in order:
        if start in seen or not any(start in p for p in linked):
            continue
        part, todo = [], [start]
        while todo:
            x = todo.pop()
            if x in seen:
                continue
            seen.add(x)
            part.append(x)
            todo.extend(y for p in linked if x in p for y in p if y not in seen)
        part.sort(key=order.index)
        if all(frozenset((a, b)) in linked for i, a in enumerate(part) for b in part[i + 1:]):
            groups.append(part)
        else:
            groups.extend(sorted(([a, b] for a, b in pairs if a in part), key=lambda g: (order.index(g[0]),
                                                                                      order.index(g[1]))))
    return groups


def amount_text(value: float, unit: str) -> str:
    """'0.5 points', '1 point', '0.1 bits per character'."""
    return f"{value:.3g} {'point' if unit == 'points' and f'{value:.3g}' == '1' else unit}"


def _names(labels) -> str:
    labels = list(labels)
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def seeds_for_equivalence(r, level: float, tolerance: float, max_seeds: int = 10_000) -> Optional[int]:
    r"""Seeds per activation at which the pair's interval would fit inside [-D, D] if its difference and
    spread stayed as observed: the smallest n with :math:`|\bar D| + t_{1-\ell/2, n-1}\, s/\sqrt n \le D`
    (paired: s = SD of the differences; Welch: :math:`s^2 = s_a^2 + s_b^2`, df n - 1, conservative).
    None when the observed difference is not inside the zone (no number of seeds would show equivalence)."""
    sd = r.sd_diff if r.design == "paired" else math.sqrt(r.sd_a ** 2 + r.sd_b ** 2)
    room = tolerance - abs(r.diff)
    if not (room > 0 and math.isfinite(sd)):
        return None
    for n in range(2, max_seeds + 1):
        if float(st.t.ppf(1 - level / 2, n - 1)) * sd / math.sqrt(n) <= room:
            return n
    return None


def _statement(decided, open_pairs, still, look, max_looks, finished, alpha, scale, unit, equivalent=None,
               tolerance=0.0, look_level=None) -> str:
    parts = []
    losers = {}
    for (winner, loser) in decided:
        losers.setdefault(loser, []).append(winner)
    for loser, winners in losers.items():
        parts.append(f"{loser} is worse than {', '.join(sorted(winners))}.")
    for group in equivalent_groups(list(equivalent or {})):
        parts.append(f"{_names(group)} are within {amount_text(scale * tolerance, unit)} of each other.")
    if not open_pairs:
        parts.append("Nothing is open: the race is decided." if decided or equivalent else "No pairs to compare.")
        return " ".join(parts)
    level = alpha / max(1, len(open_pairs))
    for r in open_pairs:
        _, need = pair_power(r, alpha=level)
        n_now = max(r.n_a, r.n_b)
        need_text = (f"about {need} seeds each would separate a difference this size at 80% power"
                     if need else "no number of seeds would separate them (no difference observed)")
        if tolerance > 0:
            # at the level a look of this race tests at (the race's own per-look level), not the final one
            same = seeds_for_equivalence(r, look_level or level, tolerance)
            if same and same > n_now:
                need_text += (f"; about {same} seeds each would show them within "
                              f"{amount_text(scale * tolerance, unit)} if the difference and spread stay as observed")
        size = f"{scale * abs(r.diff):.2f}" if unit == "points" else f"{scale * abs(r.diff):.3g}"
        # pairs are oriented better-first (in the metric's direction), so the size is what a gains over b
        parts.append(f"Open: {r.a} vs {r.b} ({r.a} better by {size} {unit} with {n_now} seeds; {need_text}).")
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
