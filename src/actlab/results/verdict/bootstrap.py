"""The probability that each activation is the best, and its rank interval, by a bootstrap over seeds.

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


@dataclass(frozen=True)
class BestProbability:
    """P(best) of one activation and the ``confidence`` interval of its rank (1 = best)."""

    label: str
    p_best: float
    rank_low: int
    rank_high: int


def best_probabilities(values: Mapping[str, Mapping[int, float]], *, resamples: int = 10_000,
                       confidence: float = 0.95, higher_is_better: bool = True,
                       rng_seed: int = 0) -> dict[str, BestProbability]:
    """P(best) and rank interval per activation, by resampling seeds jointly.

    Args:
        values: ``{label: {seed: value}}`` of finished runs; labels without values are left out.
        resamples: number of bootstrap replicates (Monte Carlo error of P(best) is at most 0.5/sqrt(resamples)).
        confidence: coverage of the rank interval.
        higher_is_better: orientation of the metric.
        rng_seed: seed of the bootstrap's generator.

    Returns:
        ``{label: BestProbability}`` ordered by P(best), highest first.

    Examples:
        >>> r = best_probabilities({"gelu": {0: .99, 1: .98}, "sigmoid": {0: .90, 1: .91}}, resamples=200)
        >>> r["gelu"].p_best, r["gelu"].rank_low, r["sigmoid"].rank_high
        (1.0, 1, 2)
    """
    if not isinstance(resamples, int) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer, e.g. 10000 (got {resamples!r})")
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
    draws = rng.integers(0, len(seeds), size=(resamples, len(seeds)))
    means = np.empty((len(labels), resamples))
    for i, k in enumerate(labels):
        picked = table[i][draws]
        count = np.sum(~np.isnan(picked), axis=1)
        sums = np.nansum(picked, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means[i] = sums / count
        empty = count == 0
        if empty.any():
            own = table[i][~np.isnan(table[i])]
            means[i, empty] = own[rng.integers(0, len(own), size=(int(empty.sum()), len(own)))].mean(axis=1)
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

