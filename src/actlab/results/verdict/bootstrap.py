r"""The probability that each activation is the best, and its rank interval, from a posterior over seeds.

**Default (``method="posterior"``): a t posterior that keeps the pairing.**
Each activation's mean is drawn as

.. math:: \mu^*_k = \bar x_k + g_k \sum_{s} z_s\,(x_{ks} - \bar x_k) / \sqrt{n_k (n_k - 1)},
    \qquad z_s \sim N(0, 1),\; g_k = \sqrt{\nu_k / \chi^2_{\nu_k}},\; \nu_k = n_k - 1,

with the same :math:`z_s` for every activation (a seed that was good for one
is weighted alike for all, so the pairing by seed is kept) and one shared
uniform behind every :math:`\chi^2` draw. Each mean, and each paired
difference over common seeds, then has exactly the posterior of a normal
mean with unknown variance under the Jeffreys prior, :math:`\bar x + (s/\sqrt n)\, t_{n-1}`
(Gelman et al. 2013, *Bayesian Data Analysis*, 3rd ed., sec. 3.2): the
Student-t the paired test uses, where the bootstrap below has a normal-like
spread :math:`\sqrt{(n-1)/n}` too narrow and no heavy tails. With 2 to 4
seeds that difference is large: in simulation (tests/test_race_outputs.py,
docs/racing.md) the bootstrap's "P(best) = 1.00" activations were truly
best only 75-85% of the time, the posterior's P(best) above 0.9 about as
often as it says. Where the true differences are small against the seed
noise and many activations are compared, any flat-prior P(best) still
overstates the leader (the winner's curse); the docs give the numbers.

**``method="bootstrap"``: the former default.**
Efron's nonparametric bootstrap (Efron & Tibshirani 1993, *An Introduction
to the Bootstrap*, ch. 6) with the seed as the resampled unit: each resample
draws ``S`` seeds with replacement from the ``S`` seeds of the study, and
every activation is averaged over the same drawn seeds, so the pairing by
seed is kept (a seed that was good for all activations is drawn for all of
them). An activation that finished none of the drawn seeds (it diverged on
them) is resampled from its own seeds in that replicate. In each replicate
the activations are ranked by mean (rank 1 = best; ties share the better
rank); P(best) is the share of replicates in which an activation is best
(a tie for best splits the replicate evenly), and the rank interval holds
the central ``confidence`` share of its replicate ranks. This follows the
"rank uncertainty" bootstrap of Hall & Miller (2009, "Using the bootstrap to
quantify the authority of an empirical ranking", Ann. Statist. 37(6B)).
A fixed RNG seed makes the result reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class BestProbability:
    """P(best) of one activation and the ``confidence`` interval of its rank (1 = best)."""

    label: str
    p_best: float
    rank_low: int
    rank_high: int


def best_probabilities(values: Mapping[str, Mapping[int, float]], *, resamples: int = 10_000,
                       confidence: float = 0.95, higher_is_better: bool = True,
                       rng_seed: int = 0, method: str = "posterior") -> dict[str, BestProbability]:
    """P(best) and rank interval per activation, from joint draws of every activation's mean over seeds.

    Args:
        values: ``{label: {seed: value}}`` of finished runs; labels without values are left out.
        resamples: number of bootstrap replicates (Monte Carlo error of P(best) is at most 0.5/sqrt(resamples)).
        confidence: coverage of the rank interval.
        higher_is_better: orientation of the metric.
        rng_seed: seed of the bootstrap's generator.
        method: ``"posterior"`` (default: t posterior with paired Gaussian seed weights, calibrated at
            small n) or ``"bootstrap"`` (Efron's bootstrap over seeds; overconfident with few seeds).

    Returns:
        ``{label: BestProbability}`` ordered by P(best), highest first.

    Examples:
        >>> r = best_probabilities({"gelu": {0: .99, 1: .98}, "sigmoid": {0: .90, 1: .91}}, resamples=200)
        >>> r["gelu"].rank_low, r["sigmoid"].rank_high, r["gelu"].p_best > 0.9
        (1, 2, True)
    """
    if not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, e.g. 10000 (got {resamples!r})")
    if method not in ("posterior", "bootstrap"):
        raise ValueError(f"method must be 'posterior' or 'bootstrap' (got {method!r})")
    labels = [k for k in values if values[k]]
    if not labels:
        return {}
    seeds = sorted({s for k in labels for s in values[k]})
    table = np.full((len(labels), len(seeds)), np.nan)
    for i, k in enumerate(labels):
        for j, s in enumerate(seeds):
            if s in values[k]:
                table[i, j] = values[k][s]
    rng = np.random.default_rng(rng_seed)
    if method == "posterior":
        means = _posterior_means(table, resamples, rng)
    else:
        means = _bootstrap_means(table, resamples, rng)
    score = means if higher_is_better else -means
    ranks = 1 + np.sum(score[None, :, :] > score[:, None, :], axis=1)  # [label, replicate]
    top = score == score.max(axis=0, keepdims=True)
    share = top / top.sum(axis=0, keepdims=True)
    tail = (1 - confidence) / 2
    out = {}
    for i, k in enumerate(labels):
        low = int(np.quantile(ranks[i], tail, method="inverted_cdf"))
        high = int(np.quantile(ranks[i], 1 - tail, method="inverted_cdf"))
        out[k] = BestProbability(k, float(share[i].mean()), low, high)
    return dict(sorted(out.items(), key=lambda kv: (-kv[1].p_best, kv[1].rank_low, labels.index(kv[0]))))


def _posterior_means(table: np.ndarray, resamples: int, rng) -> np.ndarray:
    """``[label, draw]`` means from the t posterior (module docstring); NaN cells are seeds a label lacks."""
    z = rng.standard_normal((resamples, table.shape[1]))
    u = 1.0 - rng.uniform(size=resamples)  # in (0, 1]: a chi-square quantile of 0 would be an infinite scale
    means = np.empty((table.shape[0], resamples))
    for i, row in enumerate(table):
        have = ~np.isnan(row)
        n, mean = int(have.sum()), float(np.nanmean(row))
        if n < 2:  # one value: no spread can be estimated; the mean stays where it is
            means[i] = mean
            continue
        dev = np.where(have, row - mean, 0.0)
        g = np.sqrt((n - 1) / st.chi2.ppf(u, n - 1))  # one uniform for every label: the draws stay comonotone
        means[i] = mean + g * (z @ dev) / np.sqrt(n * (n - 1))
    return means


def _bootstrap_means(table: np.ndarray, resamples: int, rng) -> np.ndarray:
    """``[label, replicate]`` means of Efron's bootstrap over seeds, drawn jointly for every label."""
    seeds = table.shape[1]
    draws = rng.integers(0, seeds, size=(resamples, seeds))
    means = np.empty((table.shape[0], resamples))
    for i in range(table.shape[0]):
        picked = table[i][draws]
        count = np.sum(~np.isnan(picked), axis=1)
        sums = np.nansum(picked, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[i] = sums / count
        empty = count == 0
        if empty.any():
            own = table[i][~np.isnan(table[i])]
            means[i, empty] = own[rng.integers(0, len(own), size=(int(empty.sum()), len(own)))].mean(axis=1)
    return means
