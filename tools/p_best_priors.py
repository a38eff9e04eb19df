"""Would a shrinkage prior calibrate P(best) where many activations are close? A simulation.

    .venv/bin/python tools/p_best_priors.py            # about 2 minutes; prints the table in docs/racing.md

actlab's P(best) (results/verdict/bootstrap.py, ``method="posterior"``) draws each
activation's mean from its own t posterior under a flat prior, the pairing by seed kept.
Among many activations whose true means are close, a flat prior lets the leader lead
partly by luck (the winner's curse). This script compares it, on simulated studies whose
true means are known, with two empirical-Bayes alternatives (not in the package):

- ``shrink``: the hierarchical normal model of Gelman et al. (2013, *Bayesian Data
  Analysis*, 3rd ed., sec. 5.4): true means ~ N(m, tau^2), a uniform prior on tau,
  each activation's seed-adjusted mean y_k with its own variance v_k treated as known;
  tau drawn from its marginal posterior on a grid, then each mean shrunk towards m by
  B_k = v_k / (v_k + tau^2), its t-posterior noise scaled by sqrt(1 - B_k);
- ``shrink-pooled``: the same with one noise variance for all activations (the two-way
  layout's interaction mean square, (K - 1)(S - 1) degrees of freedom).

Studies: true means ~ N(0, spread^2), a per-seed effect N(0, 1) shared by all
activations, run noise N(0, 1), times a per-activation factor in [0.5, 2] where
"unequal noise". ECE: the share-weighted gap between the P(best) given and how often
that activation was truly best, over deciles; "top": among P(best) >= 0.9, the mean given
and the share truly best.
"""
import sys
from pathlib import Path

import numpy as np
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from actlab.results.verdict import bootstrap  # noqa: E402


def shrunk(y, v, noise, draws, rng, grid=400):
    """Draws of the means under the hierarchical normal model (uniform prior on tau, on a grid)."""
    scale = np.std(y) + np.sqrt(v.max())
    taus = (np.arange(grid) + 0.5) / grid * 10 * scale
    w = 1 / (v[None, :] + taus[:, None] ** 2)  # [tau, activation]
    m_hat = (w * y).sum(1) / w.sum(1)
    log_p = -0.5 * np.log(w.sum(1)) + 0.5 * np.log(w).sum(1) - 0.5 * (w * (y[None] - m_hat[:, None]) ** 2).sum(1)
    p = np.exp(log_p - log_p.max())
    t = rng.choice(grid, size=draws, p=p / p.sum())
    b = v[:, None] / (v[:, None] + taus[t][None, :] ** 2)
    m = m_hat[t] + rng.standard_normal(draws) / np.sqrt(w[t].sum(1))
    return (1 - b) * y[:, None] + b * m[None, :] + np.sqrt(1 - b) * noise


def means(method, table, draws, rng):
    k, s = table.shape
    if method == "posterior":
        return bootstrap._posterior_means(table, draws, rng)
    adjusted = table - table.mean(0)[None, :]  # the seed effect removed
    y = adjusted.mean(1)
    if method == "shrink":
        flat = bootstrap._posterior_means(table, draws, rng)
        return shrunk(y, adjusted.var(1, ddof=1) / s, flat - table.mean(1)[:, None], draws, rng)
    resid = adjusted - y[:, None]
    dof = (k - 1) * (s - 1)
    s2 = (resid ** 2).sum() / dof
    g = np.sqrt(dof / st.chi2.rvs(dof, size=draws, random_state=rng))
    zeta = rng.standard_normal((k, draws))
    return shrunk(y, np.full(k, s2 / s), g[None, :] * np.sqrt(s2 / s) * (zeta - zeta.mean(0)), draws, rng)


def calibration(method, labels, seeds, spread, unequal, studies=800, rs=11):
    rng = np.random.default_rng(rs)
    given, truth = [], []
    for _ in range(studies):
        mu = rng.normal(0, spread, labels)
        factor = rng.uniform(0.5, 2, (labels, 1)) if unequal else 1.0
        table = mu[:, None] + rng.normal(0, 1, seeds)[None, :] + rng.normal(0, 1, (labels, seeds)) * factor
        draws = means(method, table, 2000, np.random.default_rng(int(rng.integers(1 << 31))))
        top = draws == draws.max(axis=0, keepdims=True)
        given += list((top / top.sum(0, keepdims=True)).mean(1))
        truth += list(np.arange(labels) == mu.argmax())
    given, truth = np.array(given), np.array(truth, dtype=float)
    decile = np.minimum((given * 10).astype(int), 9)
    ece = sum(abs(given[decile == i].mean() - truth[decile == i].mean()) * (decile == i).sum()
              for i in range(10) if (decile == i).any()) / len(given)
    sure = given >= 0.9
    return ece, int(sure.sum()), given[sure].mean(), truth[sure].mean()


def main():
    methods = ("posterior", "shrink", "shrink-pooled")
    print("| noise | activations x seeds, spread | " + " | ".join(f"{m}: ECE; top (n) given / truly best" for m in methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for unequal in (False, True):
        for labels, seeds, spread in ((3, 3, 0.5), (6, 4, 0.5), (4, 3, 2.0)):
            cells = []
            for m in methods:
                ece, n, g, t = calibration(m, labels, seeds, spread, unequal)
                cells.append(f"{ece:.3f}; ({n}) {g:.2f} / {t:.2f}")
            print(f"| {'unequal' if unequal else 'equal'} | {labels} x {seeds}, {spread} | " + " | ".join(cells) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
