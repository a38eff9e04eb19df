r"""Effect sizes with noncentral-t intervals, and a mean's interval that stays inside the metric's range.

Standardised differences follow Hedges & Olkin (1985, *Statistical Methods
for Meta-Analysis*, ch. 5) and Lakens (2013, "Calculating and reporting
effect sizes", Front. Psychol. 4:863):

- paired design: :math:`d_z = \bar D / s_D` (mean difference over the SD of
  the per-seed differences); the bias-corrected :math:`g_z = J(n-1)\,d_z`;
- unpaired design: :math:`d_s = (\bar a - \bar b) / s_p` with the pooled SD;
  :math:`g_s = J(n_a+n_b-2)\,d_s`;

with :math:`J(\nu) = \Gamma(\nu/2) / (\sqrt{\nu/2}\,\Gamma((\nu-1)/2))`. The
interval for the population effect inverts the noncentral t distribution
(Steiger & Fouladi 1997; Cumming & Finch 2001): find the noncentrality
:math:`\lambda` for which the observed t sits at the 97.5% and 2.5% points.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import optimize
from scipy import special
from scipy import stats as st


def hedges_j(df: float) -> float:
    r"""Hedges' small-sample correction :math:`J(\nu)`; NaN below 2 degrees of freedom (J(1) = 0).

    Examples:
        >>> round(hedges_j(10), 4)
        0.9227
    """
    if not df >= 2:
        return math.nan
    return math.exp(special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2))


def nct_cdf(x: float, df: float, ncp: float) -> float:
    """P(T <= x) for the noncentral t; scipy returns NaN far in the tails (x=9, df=4, ncp=-10), where it is 1 or 0."""
    # special.nctdtr is what st.nct.cdf evaluates, without the distribution object's argument checks,
    # which cost ten times the evaluation (power and seed searches call this thousands of times).
    p = float(special.nctdtr(df, ncp, x))
    return p if not math.isnan(p) else (1.0 if ncp < x else 0.0)


def noncentral_t_interval(t: float, df: float, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for the noncentrality parameter given an observed t: (lambda_low, lambda_high).

    ``lambda_low`` puts ``t`` at the upper ``(1+confidence)/2`` point of
    nct(df, lambda), ``lambda_high`` at the lower ``(1-confidence)/2`` point.
    NaN when t or df is not finite or df < 1.
    """
    if not (math.isfinite(t) and math.isfinite(df) and df >= 1):
        return math.nan, math.nan
    tail = (1 - confidence) / 2

    def root(q):
        f = lambda ncp: nct_cdf(t, df, ncp) - q  # noqa: E731 (decreasing in ncp)
        width = 10.0 + abs(t)
        low, high = t - width, t + width
        while f(low) < 0:
            low -= width
        while f(high) > 0:
            high += width
        return optimize.brentq(f, low, high, xtol=1e-10)

    return root(1 - tail), root(tail)


def hedges_g_paired(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Paired effect :math:`g_z` and a CI for :math:`\delta_z = \mu_D/\sigma_D`: (g, low, high).

    Args:
        differences: per-seed differences a - b.
        confidence: coverage of the interval.

    Returns:
        g_z (NaN below 3 pairs, where J is undefined), and the noncentral-t
        interval for the population d_z (NaN below 2 pairs or with no spread).
    """
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n < 2 or d.std(ddof=1) == 0:
        return math.nan, math.nan, math.nan
    dz = d.mean() / d.std(ddof=1)
    low, high = noncentral_t_interval(dz * math.sqrt(n), n - 1, confidence)
    return dz * hedges_j(n - 1), low / math.sqrt(n), high / math.sqrt(n)


def hedges_g_independent(a: Sequence[float], b: Sequence[float],
                         confidence: float = 0.95) -> tuple[float, float, float]:
    r"""Unpaired effect :math:`g_s` (pooled SD) and a CI for :math:`\delta_s`: (g, low, high).

    NaN below 2 values per side or with no spread at all.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan, math.nan, math.nan
    df = na + nb - 2
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / df
    if pooled == 0:
        return math.nan, math.nan, math.nan
    ds = (a.mean() - b.mean()) / math.sqrt(pooled)
    scale = math.sqrt(1 / na + 1 / nb)
    low, high = noncentral_t_interval(ds / scale, df, confidence)
    return ds * hedges_j(df), low * scale, high * scale


def bounded_mean_interval(values: Sequence[float], confidence: float = 0.95,
                          bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float]:
    r"""Mean and an interval that lies inside ``bounds``: a t interval on the logit scale, mapped back.

    .. math:: \mathrm{logistic}\big(\overline{\ell} \pm t_{1-\alpha/2,n-1}\, s_\ell/\sqrt n\big),
              \quad \ell_i = \mathrm{logit}\big((x_i - lo)/(hi - lo)\big)

    The plain t interval of two accuracies near 0.99 can reach past 1 (and
    of two far-apart ones below 0): the metric's range is ignored. On the logit
    scale the range is the whole line, so the mapped-back interval always lies
    in (lo, hi); it is the log-odds analogue of the t interval (its centre is
    the back-transformed mean logit, close to the mean when the spread is
    small). Values at the bounds are pulled in by 1e-6 of the range so that
    the logit stays finite.

    Returns:
        (arithmetic mean, low, high); the interval is NaN below two values.

    Examples:
        >>> m, lo, hi = bounded_mean_interval([0.985, 0.992])
        >>> 0 < lo < m < hi < 1
        True
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan
    lo, hi = bounds
    eps = 1e-6
    u = np.clip((x - lo) / (hi - lo), eps, 1 - eps)
    ell = special.logit(u)
    half = st.t.ppf(0.5 + confidence / 2, n - 1) * ell.std(ddof=1) / math.sqrt(n)
    back = lambda v: lo + (hi - lo) * float(special.expit(v))  # noqa: E731
    return mean, back(ell.mean() - half), back(ell.mean() + half)
