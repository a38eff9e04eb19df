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
  (spends almost nothing early, keeps nearly all of alpha for the end);
- ``peto`` (Haybittle-Peto type; Haybittle 1971, Peto et al. 1976): :math:`\alpha^*(t) = 0.1\,\alpha t`
  for :math:`t < 1` and :math:`\alpha^*(1) = \alpha`: a strict constant level at every interim look,
  so only clear gaps are decided early, and 90% of alpha or more at the last look, where a race
  is then nearly as strict as the fixed protocol.

At look ``k`` every still-open pair whose two activations are both still
sampled is tested (paired t-test where the seeds allow, else Welch).

``method="holm"`` (the default without a tolerance): a pair is decided when,
at this look or at any earlier look of its own,

.. math:: p_{\ell} < \Delta\alpha_\ell / r,

``r`` being the number of pairs not decided yet (``m`` at the start), and
the rule is applied again after every decision until nothing changes: each
decided pair passes its share of alpha to the open ones, at every look,
past ones included. This is the shortcut of a closed test (Marcus, Peritz
& Gabriel 1976) whose test of an intersection of ``|J|`` pairwise nulls is
the weighted Bonferroni test "some pair of ``J`` at some look has
:math:`p_\ell < \Delta\alpha_\ell/|J|`", of level at most
:math:`\sum_{i\in J}\sum_\ell \Delta\alpha_\ell/|J| = \alpha` by the union
bound whatever the correlation between looks: Holm's procedure (1979)
applied across looks, the Bonferroni-Holm case of the graphical
group-sequential approach of Maurer & Bretz (2013, Statistics in
Biopharmaceutical Research 5(4)), with the union bound in place of exact
boundaries. A past look is re-read only in the direction the pair has now.
``method="bonferroni"``: decided when :math:`p < \Delta\alpha_k / m` at
this look (no passing; the rule of earlier versions, kept for comparison).
Both stay valid with data-dependent stopping because a pair is only ever
tested while both of its activations receive every new seed, so its own
sample sizes follow the fixed schedule until it is decided; so the p-values
a later look re-reads are those of the fixed schedule. The price of the
union bound is conservatism: exact group-sequential boundaries would be
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
equivalence and vice versa. With a tolerance the race uses
``method="bonferroni"`` (no alpha passing): the argument above bounds both
kinds of claim together only at the fixed per-pair level.

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

SPENDING = "pocock"  # the default spending function: spends early, so clear losers stop drawing seeds soon
PETO_SHARE = 0.1  # "peto": the share of alpha spread evenly over the interim looks (the rest at the last)
FUTILITY = 0.1  # an open pair with less chance than this to be decided by the last look stops drawing seeds


def spent(t: float, alpha: float = 0.05, kind: str = "pocock") -> float:
    r"""Cumulative alpha a Lan-DeMets spending function allows by information fraction ``t`` in [0, 1].

    Examples:
        >>> round(spent(1.0, 0.05, "obf"), 6), round(spent(1.0, 0.05, "pocock"), 6)
        (0.05, 0.05)
        >>> round(spent(0.5, 0.05, "peto"), 6), spent(1.0, 0.05, "peto")
        (0.0025, 0.05)
    """
    if not 0 <= t <= 1:
        raise ValueError(f"information fraction must lie in [0, 1] (got {t!r})")
    if t == 0:
        return 0.0
    if kind == "pocock":
        return alpha * math.log(1 + (math.e - 1) * t)
    if kind == "obf":
        return float(2 - 2 * st.norm.cdf(st.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    if kind == "peto":
        return alpha if t == 1 else PETO_SHARE * alpha * t
    raise ValueError(f"spending must be 'pocock', 'obf' or 'peto' (got {kind!r})")


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
        method: ``"holm"`` (decided pairs pass their alpha on, past looks re-read) or ``"bonferroni"``.
        futile: ``{(a, b): conditional power}`` for the open pairs that no longer keep an activation
            sampled (:func:`conditional_power` at the last planned look below the race's ``futility``).
        history: ``{frozenset(pair): ((look, alpha_look, PairTest), ...)}``: every test of every pair so far,
            oriented better-first as at that look (what a Holm step re-reads).
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
    method: str = "bonferroni"
    history: dict = field(default_factory=dict, repr=False)
    futile: dict = field(default_factory=dict)

    @functools.cached_property
    def statement(self) -> str:
        return _statement(self.decided, self.open, self.active, self.look, self.max_looks, self.finished,
                          self.alpha, self.scale, self.unit, self.equivalent, self.tolerance,
                          self.alpha_look / max(1, self.pairs_total), self.futile)


def race_look(values: Mapping[str, Mapping[int, float]], *, look: int, max_looks: int, alpha: float = 0.05,
              spending: str = SPENDING, goal: str = "ranking", previous: Optional[Look] = None,
              higher_is_better: bool = True, scale: float = 100.0, unit: str = "points",
              tolerance: float = 0.0, span: float = 1.0, method: Optional[str] = None,
              futility: float = FUTILITY) -> Look:
    """Decide, after one look, which pairs are settled and which activations need more seeds.

    Args:
        values: ``{label: {seed: value}}`` of finished runs so far (see :func:`.samples.clean`).
        look: this look's number, 1 to ``max_looks``.
        max_looks: the most looks the race may take (fixes the spending schedule in advance).
        alpha: family-wise error rate over all pairs and all looks.
        spending: ``"pocock"`` (default), ``"peto"`` or ``"obf"`` (see the module docstring).
        goal: ``"ranking"`` (settle every pair) or ``"best"`` (only find the best).
        previous: the previous look's result (None at look 1).
        higher_is_better: orientation of the metric.
        scale, unit: how differences are written in the statement (100, "points" for accuracy).
        tolerance: the indifference zone D in the metric's own units (0.003 for 0.3 accuracy points); a
            pair whose interval at this look's level lies inside [-D, D] is decided equivalent. 0: off.
        span: the largest possible |difference| (1 for accuracy, inf for an unbounded metric).
        method: ``"holm"`` or ``"bonferroni"`` (see the module docstring); None: Holm without a tolerance,
            Bonferroni with one. A race keeps one method from its first look to its last.
        futility: an open pair whose :func:`conditional_power` at the last planned look is below this stops
            keeping its activations sampled (non-binding: it is still tested while both receive seeds
            for other pairs). 0: off.

    Returns:
        a :class:`Look`.
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a finite number >= 0 in the metric's units (got {tolerance!r})")
    if not (isinstance(look, int) and isinstance(max_looks, int) and 1 <= look <= max_looks):
        raise ValueError(f"look must be an integer from 1 to max_looks={max_looks!r} (got {look!r})")
    if goal not in ("ranking", "best"):
        raise ValueError(f"goal must be 'ranking' or 'best' (got {goal!r})")
    if method is None:
        method = previous.method if previous else ("holm" if tolerance == 0 else "bonferroni")
    if method not in ("holm", "bonferroni"):
        raise ValueError(f"method must be 'holm' or 'bonferroni' (got {method!r})")
    if method == "holm" and tolerance > 0:
        raise ValueError("method 'holm' (alpha passing) is not valid with a tolerance: use method='bonferroni'")
    if not (isinstance(futility, (int, float)) and 0 <= futility < 1):
        raise ValueError(f"futility must be a conditional power in [0, 1) (got {futility!r})")
    labels = [k for k in values if values[k]]
    m = previous.pairs_total if previous else len(labels) * (len(labels) - 1) // 2
    active = list(previous.active) if previous else labels
    decided = dict(previous.decided) if previous else {}
    equivalent = dict(previous.equivalent) if previous else {}
    alpha_look = spent(look / max_looks, alpha, spending) - spent((look - 1) / max_looks, alpha, spending)
    level = alpha_look / max(m, 1)
    sign = 1.0 if higher_is_better else -1.0
    history = dict(previous.history) if previous else {}
    done_pairs = {frozenset(k) for k in decided} | {frozenset(k) for k in equivalent}
    tested = []
    for i, x in enumerate(active):
        for y in active[i + 1:]:
            if frozenset((x, y)) in done_pairs:
                continue
            # the interval at this look's level: excluding 0 <=> p < level; inside [-D, D] <=> TOST at level/2
            r = compare_pair(values[x], values[y], label_a=x, label_b=y, details=False, confidence=1 - level,
                             span=span)
            r = r.flipped() if sign * r.diff < 0 else r
            key = frozenset((x, y))
            history[key] = history.get(key, ()) + ((look, alpha_look, r),)
            tested.append(r)
    # pairs given up earlier whose activation no longer receives seeds: still open, re-read by Holm steps
    carried = [history[frozenset(k)][-1][2] for k in (previous.futile if previous else {})
               if frozenset(k) not in done_pairs and not any(frozenset(k) == frozenset((r.a, r.b)) for r in tested)]
    undecided = list(tested) + carried
    while True:  # Holm: every decision raises the level of the rest; Bonferroni: one pass at the fixed level
        divisor = max(1, m - len(decided)) if method == "holm" else max(m, 1)
        hits = [(r, _crossing(history[frozenset((r.a, r.b))], r, divisor, method, look)) for r in undecided]
        hits = [(r, hit) for r, hit in hits if hit is not None]
        for r, hit in hits:
            decided[(hit.a, hit.b)] = hit
        undecided = [r for r in undecided if all(r is not h for h, _ in hits)]
        if not hits or method != "holm":
            break
    open_pairs = []
    for r in undecided:
        if (any(r is c for c in carried) or not (tolerance > 0 and r.design != NONE and -tolerance <= r.ci_low
                                                  and r.ci_high <= tolerance)):
            open_pairs.append(r)
        else:
            equivalent[(r.a, r.b)] = r
    last_level = (alpha_look if look == max_looks else alpha - spent((max_looks - 1) / max_looks, alpha, spending))
    last_level /= max(1, m - len(decided)) if method == "holm" else max(m, 1)
    futile = {}
    for r in open_pairs:
        if any(r is c for c in carried):
            futile[(r.a, r.b)] = previous.futile.get((r.a, r.b), previous.futile.get((r.b, r.a), 0.0))
            continue
        chance = conditional_power(r, max_looks - look, last_level)
        if futility > 0 and look < max_looks and chance < futility and not _may_become_equivalent(
                r, max_looks - look, last_level, tolerance):
            futile[(r.a, r.b)] = chance
    sampled = [r for r in open_pairs if (r.a, r.b) not in futile]
    if goal == "ranking":
        still = [k for k in active if any(k in (r.a, r.b) for r in sampled)]
    else:
        losers = {loser for _, loser in decided}
        still = [k for k in active if k not in losers]
        open_pairs = [r for r in open_pairs if r.a in still and r.b in still]
        sampled = [r for r in sampled if r.a in still and r.b in still]
        if len(still) < 2 or not sampled:  # one contender left, or no pair among the contenders worth a seed
            still = []
    futile = {k: v for k, v in futile.items() if any((r.a, r.b) == k for r in open_pairs)}
    finished = not still or look == max_looks
    settled = [k for k in labels if k not in still]
    return Look(look, max_looks, alpha_look, decided, open_pairs, still, settled, finished, m, alpha, scale, unit,
                equivalent, float(tolerance), method, history, futile)


def conditional_power(r, more: int, level: float) -> float:
    r"""The chance that an open pair is decided at the last planned look if its difference and spread stay as
    observed: conditional power under the current trend (Lan, Simon & Halperin 1982; Jennison & Turnbull
    2000, ch. 10), normal approximation with the t critical value.

    With ``n`` seeds so far, ``N = n + more`` at the last look, observed mean difference :math:`\hat d` and SD
    :math:`s` of the differences (Welch: :math:`s^2 = s_a^2 + s_b^2`), and :math:`c = t_{1-\ell/2,\,N-1}`:

    .. math:: CP = \Phi\!\left(\frac{N|\hat d| - c\, s\sqrt N}{s\sqrt{N-n}}\right)

    (the sum of the ``N - n`` differences to come is normal with mean :math:`(N-n)\hat d` and variance
    :math:`(N-n)s^2`). 1 when the pair would already be decided at ``N`` seeds without more spread
    (``s = 0``); NaN when untestable.

    Examples:
        >>> from types import SimpleNamespace as P
        >>> r = P(design="paired", n_a=3, n_b=3, diff=0.004, sd_diff=0.002, sd_a=0, sd_b=0)
        >>> round(conditional_power(r, 7, 0.05 / 15 * 0.08), 3)   # 10 seeds at the last look, d = 2 SDs
        0.743
    """
    n = max(r.n_a, r.n_b)
    if r.design == NONE or n < 2:
        return math.nan
    if more <= 0:
        return 0.0
    big_n = n + more
    sd = r.sd_diff if r.design == "paired" else math.sqrt(r.sd_a ** 2 + r.sd_b ** 2)
    c = float(st.t.ppf(1 - level / 2, big_n - 1))
    if not (math.isfinite(sd) and sd > 0):
        return 1.0 if abs(r.diff) > 0 else 0.0
    z = (big_n * abs(r.diff) - c * sd * math.sqrt(big_n)) / (sd * math.sqrt(more))
    return float(st.norm.cdf(z))


def _may_become_equivalent(r, more: int, level: float, tolerance: float) -> bool:
    """With a tolerance, a pair whose observed difference and spread would fit inside [-D, D] by the last
    look is worth more seeds even when its directional decision is out of reach."""
    if not tolerance > 0:
        return False
    need = seeds_for_equivalence(r, level, tolerance, max_seeds=max(r.n_a, r.n_b) + more)
    return need is not None


def _crossing(tests, now, divisor: int, method: str, look: int):
    """The test of a pair that decides it at this divisor, or None: this look's (p < alpha_look / divisor),
    or with Holm also an earlier look's in the direction the pair has now (its p-values are those of the
    fixed schedule: a pair is tested only while both activations receive every seed)."""
    for at, alpha_at, r in tests:
        if method != "holm" and at != look:
            continue
        if (r.a, r.b) == (now.a, now.b) and r.design != NONE and not math.isnan(r.p) and r.p < alpha_at / divisor:
            return r
    return None


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
               tolerance=0.0, look_level=None, futile=None) -> str:
    parts = []
    futile = futile or {}
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
    given_up = []
    for r in open_pairs:
        _, need = pair_power(r, alpha=level)
        n_now = max(r.n_a, r.n_b)
        size = f"{scale * abs(r.diff):.2f}" if unit == "points" else f"{scale * abs(r.diff):.3g}"
        chance = futile.get((r.a, r.b))
        if chance is not None:  # given up: out of reach of the planned seeds at its observed difference
            given_up.append(f"{r.a} vs {r.b} ({r.a} better by {size} {unit} with {n_now} seeds, chance "
                            f"{_percent(chance)}; " + (f"about {need} seeds each would separate it" if need else
                                                        "no difference observed") + ")")
            continue
        need_text = (f"about {need} seeds each would separate a difference this size at 80% power"
                     if need else "no number of seeds would separate them (no difference observed)")
        if tolerance > 0:
            # at the level a look of this race tests at (the race's own per-look level), not the final one
            same = seeds_for_equivalence(r, look_level or level, tolerance)
            if same and same > n_now:
                need_text += (f"; about {same} seeds each would show them within "
                              f"{amount_text(scale * tolerance, unit)} if the difference and spread stay as observed")
        # pairs are oriented better-first (in the metric's direction), so the size is what a gains over b
        parts.append(f"Open: {r.a} vs {r.b} ({r.a} better by {size} {unit} with {n_now} seeds; {need_text}).")
    if given_up:
        parts.append(f"Open and given up (no more seeds: the chance that look {max_looks}, at the race's level, "
                     f"would decide them if their difference and spread stay as observed): {'; '.join(given_up)}.")
    if finished and look == max_looks:
        parts.append(f"Stopped at the last planned look ({look} of {max_looks}); the open pairs stay open.")
    elif finished:
        parts.append(f"Stopped at look {look} of {max_looks}: no open pair is within reach of the planned seeds.")
    else:
        parts.append(f"Look {look} of {max_looks}: add seeds to {', '.join(still)}.")
    return " ".join(parts)


def _percent(chance: float) -> str:
    return "<1%" if chance < 0.01 else f"{chance:.0%}"


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
