r"""Every pair of activations: the difference with its interval, paired where the seeds allow it.

The design (see docs/statistics.md): a seed fixes a run's initial weights,
its data order and its dropout stream, identically for every activation, so
two activations run with the same seed share those sources of variation.
Where two activations finished at least two common seeds, the comparison is
**paired** over those seeds: Student's paired t-test on the per-seed
differences (Student 1908), with the Wilcoxon signed-rank test (Wilcoxon
1945) beside it as a check that assumes no normality. Otherwise (fewer than
two common seeds) it falls back to **Welch's** unequal-variance t-test (Welch
1947) over all finished values, with the Mann-Whitney U test beside it.

All pairs form one family: Holm's step-down method (Holm 1979) adjusts the
p-values, and Bonferroni-adjusted intervals (level ``1 - alpha/m`` each, for
``m`` pairs) hold simultaneously with probability at least ``1 - alpha`` under
any dependence between the pairs (Dunn 1961). An interval excluding 0 implies
a Holm rejection; Holm can also reject a pair whose Bonferroni interval
still touches 0 (it is the more powerful test, but has no matching intervals).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
from scipy import stats as st

from ..stats import holm
from .effect import hedges_g_independent, hedges_g_paired

PAIRED, WELCH, NONE = "paired", "welch", "none"


@dataclass(frozen=True)
class PairTest:
    """The comparison of activation ``a`` with ``b``; ``diff`` is mean(a) - mean(b) in the metric's units.

    ``design``: ``paired`` (over ``seeds``, the seeds both finished), ``welch``
    or ``none`` (not testable: fewer than two values on a side). ``p_rank`` is
    the Wilcoxon signed-rank p (paired) or the Mann-Whitney U p (welch).
    ``g`` is Hedges' g_z (paired, SD of the differences) or g_s (welch, pooled
    SD), ``g_low``/``g_high`` the noncentral-t 95% interval of the population
    effect. ``sd_diff`` (paired) or ``sd_a``/``sd_b`` (welch) feed the power
    calculation. ``p_holm``, ``sim_low``/``sim_high`` (Bonferroni simultaneous
    interval) are set by :func:`all_pairs`.
    """

    a: str
    b: str
    design: str
    n_a: int
    n_b: int
    seeds: tuple
    diff: float
    ci_low: float
    ci_high: float
    t: float
    df: float
    p: float
    p_rank: float
    g: float
    g_low: float
    g_high: float
    sd_a: float
    sd_b: float
    sd_diff: float
    p_holm: float = math.nan
    sim_low: float = math.nan
    sim_high: float = math.nan

    def separated(self, alpha: float = 0.05) -> bool:
        """True when the family-wise (Holm) p-value is below ``alpha``."""
        return not math.isnan(self.p_holm) and self.p_holm < alpha

    def flipped(self) -> "PairTest":
        """The same comparison seen from ``b``: signs of differences, t and effects reversed."""
        return dataclasses.replace(
            self, a=self.b, b=self.a, n_a=self.n_b, n_b=self.n_a, diff=-self.diff, ci_low=-self.ci_high,
            ci_high=-self.ci_low, t=-self.t, g=-self.g, g_low=-self.g_high, g_high=-self.g_low,
            sd_a=self.sd_b, sd_b=self.sd_a, sim_low=-self.sim_high, sim_high=-self.sim_low)


def _t_interval(diff, se, df, confidence, span):
    if not (math.isfinite(se) and math.isfinite(df)):
        return math.nan, math.nan
    half = float(st.t.ppf(0.5 + confidence / 2, df)) * se
    return max(-span, diff - half), min(span, diff + half)


def _quietly(test, *args, **kwargs) -> float:
    """A rank test's p-value; NaN where it is undefined (scipy raises or warns on degenerate samples)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = float(test(*args, **kwargs).pvalue)
    except ValueError:
        return math.nan
    return p


def compare_pair(a: Mapping[int, float], b: Mapping[int, float], *, label_a: str = "a", label_b: str = "b",
                 confidence: float = 0.95, design: str = "auto", span: float = 1.0,
                 details: bool = True) -> PairTest:
    r"""Compare two activations' finished values by seed.

    Paired (``design="auto"`` with 2+ common seeds, or ``"paired"``):
    :math:`D_s = a_s - b_s`, :math:`t = \bar D/(s_D/\sqrt n)`, df = n - 1.
    Welch: :math:`t = (\bar a - \bar b)/\sqrt{s_a^2/n_a + s_b^2/n_b}` with
    Welch-Satterthwaite df. Identical values (all differences 0, or no spread
    on either side and equal means) give t = 0 and p = 1; a constant nonzero
    difference with no spread gives p = NaN (no test is possible).

    Args:
        a, b: ``{seed: value}`` of finished runs (see :func:`.samples.clean`).
        label_a, label_b: names stored in the result.
        confidence: coverage of ``ci_low``/``ci_high``.
        design: ``"auto"``, ``"paired"`` or ``"welch"``.
        span: largest possible |difference| (1 for accuracy); intervals are clipped to it.
        details: also compute the rank-test p and Hedges' g with its interval (skip them in
            simulations: the noncentral-t interval is the slow part).

    Returns:
        a :class:`PairTest`.

    Examples:
        >>> r = compare_pair({0: .98, 1: .97, 2: .99}, {0: .96, 1: .96, 2: .97})
        >>> r.design, round(r.diff, 4)
        ('paired', 0.0167)
    """
    common = tuple(sorted(set(a) & set(b)))
    if design not in ("auto", PAIRED, WELCH):
        raise ValueError(f"design must be 'auto', 'paired' or 'welch' (got {design!r})")
    use_paired = design == PAIRED or (design == "auto" and len(common) >= 2)
    xa, xb = np.array(list(a.values()), dtype=float), np.array(list(b.values()), dtype=float)
    sd_a = float(xa.std(ddof=1)) if len(xa) > 1 else math.nan
    sd_b = float(xb.std(ddof=1)) if len(xb) > 1 else math.nan
    if use_paired and len(common) >= 2:
        d = np.array([a[s] - b[s] for s in common])
        n, diff, sd = len(d), float(d.mean()), float(d.std(ddof=1))
        se, df = sd / math.sqrt(n), n - 1.0
        if sd == 0:
            t, p = (0.0, 1.0) if diff == 0 else (math.nan, math.nan)
            low, high = (0.0, 0.0) if diff == 0 else (math.nan, math.nan)
        else:
            t = diff / se
            p = float(2 * st.t.sf(abs(t), df))
            low, high = _t_interval(diff, se, df, confidence, span)
        p_rank = g = g_low = g_high = math.nan
        if details:
            p_rank = 1.0 if not d.any() else _quietly(st.wilcoxon, d)
            g, g_low, g_high = hedges_g_paired(d, confidence)
        return PairTest(label_a, label_b, PAIRED, n, n, common, diff, low, high, t, df, p, p_rank, g, g_low,
                        g_high, sd_a, sd_b, sd)
    if len(xa) < 2 or len(xb) < 2:
        diff = float(xa.mean() - xb.mean()) if len(xa) and len(xb) else math.nan
        nan = math.nan
        return PairTest(label_a, label_b, NONE, len(xa), len(xb), common, diff, nan, nan, nan, nan, nan, nan,
                        nan, nan, nan, sd_a, sd_b, nan)
    va, vb = sd_a**2 / len(xa), sd_b**2 / len(xb)
    diff = float(xa.mean() - xb.mean())
    if va + vb == 0:
        t, p, df = (0.0, 1.0, math.nan) if diff == 0 else (math.nan, math.nan, math.nan)
        low, high = (0.0, 0.0) if diff == 0 else (math.nan, math.nan)
    else:
        df = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))
        t = diff / math.sqrt(va + vb)
        p = float(2 * st.t.sf(abs(t), df))
        low, high = _t_interval(diff, math.sqrt(va + vb), df, confidence, span)
    p_rank = g = g_low = g_high = math.nan
    if details:
        p_rank = _quietly(st.mannwhitneyu, xa, xb, alternative="two-sided")
        g, g_low, g_high = hedges_g_independent(xa, xb, confidence)
    return PairTest(label_a, label_b, WELCH, len(xa), len(xb), common, diff, low, high, t, df, p, p_rank, g,
                    g_low, g_high, sd_a, sd_b, math.nan)


def all_pairs(values: Mapping[str, Mapping[int, float]], *, alpha: float = 0.05, confidence: float = 0.95,
              design: str = "auto", span: float = 1.0, higher_is_better: bool = True,
              details: bool = True, labels: Optional[list] = None) -> list[PairTest]:
    """Compare every pair of activations, Holm-adjust the family, add Bonferroni simultaneous intervals.

    Each pair is oriented so that ``a`` has the better mean (``diff >= 0`` when
    higher is better), so a separated pair reads "a is better than b".

    Args:
        values: ``{label: {seed: value}}`` of finished runs.
        alpha: family-wise error rate for the simultaneous intervals.
        confidence: coverage of each pair's own (unadjusted) interval.
        design, span, details: as in :func:`compare_pair`.
        higher_is_better: orientation of the metric (False for a loss).
        labels: the labels to compare (default: all with at least one value).

    Returns:
        one :class:`PairTest` per unordered pair, in the order of ``labels``.
    """
    labels = [k for k in values if values[k]] if labels is None else list(labels)
    sign = 1.0 if higher_is_better else -1.0
    tests = []
    for x, y in itertools.combinations(labels, 2):
        r = compare_pair(values[x], values[y], label_a=x, label_b=y, confidence=confidence, design=design,
                         span=span, details=details)
        tests.append(r.flipped() if sign * r.diff < 0 else r)
    m = len(tests)
    adjusted = holm([r.p for r in tests])
    out = []
    for r, p_holm in zip(tests, adjusted):
        se_ok = r.design != NONE and math.isfinite(r.df) and math.isfinite(r.t) and r.t != 0
        if se_ok:
            sim = compare_pair(values[r.a], values[r.b], confidence=1 - alpha / m, design=r.design,
                               span=span, details=False)
            sim_low, sim_high = sim.ci_low, sim.ci_high
        else:
            sim_low, sim_high = r.ci_low, r.ci_high
        out.append(dataclasses.replace(r, p_holm=p_holm, sim_low=sim_low, sim_high=sim_high))
    return out
