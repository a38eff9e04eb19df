r"""Power of the paired and Welch t-tests from the noncentral t distribution.

Two-sided power at level :math:`\alpha` with :math:`\nu` degrees of freedom
and noncentrality :math:`\lambda` (Cohen 1988, *Statistical Power Analysis
for the Behavioral Sciences*, ch. 2):

.. math:: 1-\beta = P(T'_{\nu,\lambda} > c) + P(T'_{\nu,\lambda} < -c),\quad c = t_{1-\alpha/2,\nu}

- paired, n seeds: :math:`\nu = n-1`, :math:`\lambda = \Delta\sqrt n/\sigma_D`
  (the one-sample test on the differences);
- Welch, :math:`n_a, n_b` seeds: :math:`\lambda = \Delta/\sqrt{\sigma_a^2/n_a+\sigma_b^2/n_b}` with
  the Welch-Satterthwaite :math:`\nu`.

The SDs are the observed ones, so the answers are estimates: with 3 seeds an
SD is uncertain by a factor of about 2 either way.
"""
from __future__ import annotations

import math
from typing import Optional

from scipy import optimize, special

from .effect import nct_cdf
from .pairs import PAIRED, WELCH, PairTest


def _df_and_se(design: str, sd: float, n: int, sd_b: Optional[float], n_b: Optional[int]) -> tuple[float, float]:
    if design == PAIRED:
        return n - 1.0, sd / math.sqrt(n)
    if design != WELCH:
        raise ValueError(f"design must be 'paired' or 'welch' (got {design!r})")
    sd_b = sd if sd_b is None else sd_b
    n_b = n if n_b is None else n_b
    va, vb = sd**2 / n, sd_b**2 / n_b
    return (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n_b - 1)), math.sqrt(va + vb)


def power(delta: float, sd: float, n: int, *, alpha: float = 0.05, design: str = PAIRED,
          sd_b: Optional[float] = None, n_b: Optional[int] = None) -> float:
    """Two-sided power to detect a true difference ``delta``.

    Args:
        delta: the true difference (metric units).
        sd: SD of the per-seed differences (paired) or of side a (welch).
        n: seeds (paired: pairs; welch: runs of side a).
        alpha: the test's level.
        design: ``"paired"`` or ``"welch"``.
        sd_b, n_b: side b for Welch (default: equal to side a).

    Examples:
        >>> round(power(0.5, 1.0, 34), 3)   # Cohen's d_z = 0.5 with 34 pairs
        0.808
    """
    if n < 2 or (n_b is not None and n_b < 2):
        return math.nan
    df, se = _df_and_se(design, sd, n, sd_b, n_b)
    if not se > 0:
        return math.nan
    c = special.stdtrit(df, 1 - alpha / 2)  # = st.t.ppf, without its per-call argument checks
    ncp = abs(delta) / se
    return 1.0 - nct_cdf(c, df, ncp) + nct_cdf(-c, df, ncp)


def detectable_difference(sd: float, n: int, *, alpha: float = 0.05, target: float = 0.8,
                          design: str = PAIRED, sd_b: Optional[float] = None, n_b: Optional[int] = None) -> float:
    """The smallest true difference detected with probability ``target`` by the current design.

    NaN when power is undefined (fewer than 2 seeds, or no spread).
    """
    if math.isnan(power(1.0, sd, n, alpha=alpha, design=design, sd_b=sd_b, n_b=n_b)):
        return math.nan
    _, se = _df_and_se(design, sd, n, sd_b, n_b)
    f = lambda d: power(d, sd, n, alpha=alpha, design=design, sd_b=sd_b, n_b=n_b) - target  # noqa: E731
    high = se
    while f(high) < 0:
        high *= 2
    return float(optimize.brentq(f, 0.0, high, xtol=se * 1e-9))


def seeds_needed(delta: float, sd: float, *, alpha: float = 0.05, target: float = 0.8, design: str = PAIRED,
                 sd_b: Optional[float] = None, max_seeds: int = 100_000) -> Optional[int]:
    """The fewest seeds (per activation) that detect a true difference ``delta`` with probability ``target``.

    For Welch both activations get the same number of seeds. None when no
    number up to ``max_seeds`` does (e.g. ``delta == 0``) or the SD is not positive.
    """
    if delta == 0 or not sd > 0 or math.isnan(delta):
        return None
    ok = lambda n: power(delta, sd, n, alpha=alpha, design=design, sd_b=sd_b, n_b=n) >= target  # noqa: E731
    high = 2
    while not ok(high):
        if high >= max_seeds:
            return None
        high = min(2 * high, max_seeds)
    low = high // 2 if high > 2 else 1  # ok(low) is False (or low < 2)
    while high - low > 1:
        mid = (low + high) // 2
        if mid >= 2 and ok(mid):
            high = mid
        else:
            low = mid
    return high


def pair_power(test: PairTest, *, alpha: float = 0.05, target: float = 0.8) -> tuple[float, Optional[int]]:
    """For one comparison: (smallest difference detectable now, seeds needed for the observed difference).

    Uses the pair's own design and observed SDs. The seeds needed are per
    activation; compare with ``test.n_a`` to see how many more it would take.
    """
    if test.design == PAIRED:
        return (detectable_difference(test.sd_diff, test.n_a, alpha=alpha, target=target),
                seeds_needed(test.diff, test.sd_diff, alpha=alpha, target=target))
    if test.design == WELCH:
        return (detectable_difference(test.sd_a, test.n_a, alpha=alpha, target=target, design=WELCH,
                                      sd_b=test.sd_b, n_b=test.n_b),
                seeds_needed(test.diff, test.sd_a, alpha=alpha, target=target, design=WELCH, sd_b=test.sd_b))
    return math.nan, None
