"""Statistics over seeds: mean, spread, t-based confidence intervals, and tests against the best.

Every activation is run with several seeds; a seed is one independent
sample of "train this network with this activation". The ranking compares
each activation with the best one by Welch's t-test (no equal-variance
assumption), corrects the family of p-values with Holm's step-down method,
and reports Cohen's d (pooled-SD standardised difference) as effect size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np
from scipy import stats as _st

HEAVY_OVERLAP = 0.5  # share of the narrower CI covered by the other one


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1) and t-based confidence interval of n values."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Summary of finite values; NaN entries (diverged runs) are not averaged in but counted out.

    With fewer than two values the spread and interval are NaN: one seed
    says nothing about seed-to-seed variation.
    """
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def welch(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Welch's two-sided t-test: (t, p, Welch-Satterthwaite degrees of freedom).

    NaN throughout when either side has fewer than two values or both have
    zero variance (no test is possible).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return math.nan, math.nan, math.nan
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    # Computed from the variances above rather than by scipy.stats.ttest_ind,
    # which warns about "precision loss" when runs agree to many digits.
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    return float(t), float(2 * _st.t.sf(abs(t), df)), float(df)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down; monotone; capped at 1). NaN stays NaN and is not counted."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(len(p), math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out.tolist()


def cohens_d(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean(a) - mean(b)) / pooled standard deviation; NaN when it is undefined."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / math.sqrt(pooled))


def ci_overlap(a: Summary, b: Summary) -> float:
    """Share of the narrower confidence interval that the other one covers (NaN without intervals)."""
    if any(math.isnan(v) for v in (a.ci_low, a.ci_high, b.ci_low, b.ci_high)):
        return math.nan
    width = min(a.ci_high - a.ci_low, b.ci_high - b.ci_low)
    inter = min(a.ci_high, b.ci_high) - max(a.ci_low, b.ci_low)
    if width <= 0:
        return 1.0 if inter >= 0 else 0.0
    return max(0.0, inter) / width


@dataclass
class RankRow:
    """One activation in the ranking; the test fields compare it with the best (NaN for the best)."""

    label: str
    rank: int
    summary: Summary
    values: list[float]
    p: float = math.nan
    p_holm: float = math.nan
    d: float = math.nan
    significant: bool = False
    overlap: float = math.nan

    @property
    def verdict(self) -> str:
        if self.rank == 1:
            return "best"
        if math.isnan(self.p_holm):
            return "not testable (needs 2+ finite runs with some spread)"
        if self.significant:
            return f"worse than best (Holm p={self.p_holm:.3g})"
        return f"not significantly different (Holm p={self.p_holm:.3g})"


@dataclass
class Ranking:
    rows: list[RankRow]
    alpha: float
    warnings: list[str] = field(default_factory=list)

    @property
    def best(self) -> Optional[RankRow]:
        return self.rows[0] if self.rows else None


def rank(groups: Mapping[str, Sequence[float]], *, higher_is_better: bool = True,
         alpha: float = 0.05) -> Ranking:
    """Rank groups by mean and test every group against the best.

    ``d`` is oriented so that a positive value means the best is better.
    Warnings name groups with a single run and pairs whose 95% intervals
    overlap heavily (the seeds cannot tell them apart with confidence).
    """
    finite = {k: [float(v) for v in vs if v is not None and math.isfinite(v)] for k, vs in groups.items()}
    summaries = {k: summarize(v) for k, v in finite.items()}
    sign = 1.0 if higher_is_better else -1.0

    def order_key(k):
        m = summaries[k].mean
        return (math.isnan(m), -sign * (m if not math.isnan(m) else 0.0))

    labels = sorted(groups, key=order_key)
    rows = [RankRow(k, i + 1, summaries[k], finite[k]) for i, k in enumerate(labels)]
    ranking = Ranking(rows, alpha)
    if not rows:
        return ranking
    best = rows[0]
    for row in rows[1:]:
        _, row.p, _ = welch(best.values, row.values)
        row.d = sign * cohens_d(best.values, row.values)
        row.overlap = ci_overlap(best.summary, row.summary)
    for row, adj in zip(rows[1:], holm([r.p for r in rows[1:]])):
        row.p_holm = adj
        row.significant = not math.isnan(adj) and adj < alpha
    for k, vs in groups.items():
        dropped = len(vs) - len(finite[k])
        if dropped:
            ranking.warnings.append(f"{k}: {dropped} of {len(vs)} runs ended with a non-finite value "
                                    "(diverged) and are left out of its mean")
        if len(finite[k]) == 1:
            ranking.warnings.append(f"{k}: only 1 run, so no spread, interval or test; use 2 or more seeds")
    for row in rows[1:]:
        if not math.isnan(row.overlap) and row.overlap >= HEAVY_OVERLAP:
            ranking.warnings.append(f"{row.label} and {best.label}: their 95% CIs overlap by "
                                    f"{row.overlap:.0%}; the seeds cannot separate them reliably")
    return ranking
