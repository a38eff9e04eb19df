"""Error rates by simulation (fixed protocol and racing), racing's savings, and synchronous successive halving."""
import itertools
import math
import random

import numpy as np
import pytest
from scipy import stats

from actlab.results import verdict as vd
from actlab.compare.asha import Asha

ALPHA = 0.05


def _study(rng, means, seeds, seed_sd=0.002, run_sd=0.0015):
    """Synthetic accuracies: a per-seed effect shared by all activations (what pairing removes) plus run noise."""
    shared = rng.normal(0, seed_sd, seeds)
    return {k: dict(enumerate(m + shared + rng.normal(0, run_sd, seeds))) for k, m in means.items()}


def _bound(trials, rate=ALPHA):
    return rate + 3 * math.sqrt(rate * (1 - rate) / trials)  # alpha + 3 Monte Carlo standard errors


def test_fixed_protocol_false_claim_rate_stays_below_alpha():
    rng = np.random.default_rng(10)
    means = dict.fromkeys(("gelu", "relu", "elu", "tanh"), 0.985)
    trials, claims = 2000, 0
    for _ in range(trials):
        pairs = vd.all_pairs(_study(rng, means, 4), details=False)
        claims += any(r.separated(ALPHA) for r in pairs)
    assert claims / trials <= _bound(trials)


def _race(rng, means, first, max_looks, goal="ranking", spending="pocock"):
    """Run a race: ``first`` seeds, then one more seed per look for the active activations."""
    shared = rng.normal(0, 0.002, first + max_looks)
    noise = {k: rng.normal(0, 0.0015, first + max_looks) for k in means}
    values = {k: {} for k in means}
    look, active = None, list(means)
    for k in range(1, max_looks + 1):
        for a in active:
            for s in range(first + k - 1):
                values[a].setdefault(s, means[a] + shared[s] + noise[a][s])
        look = vd.race_look(values, look=k, max_looks=max_looks, previous=look, goal=goal, spending=spending)
        active = look.active
        if look.finished:
            break
    return look, sum(len(v) for v in values.values())


@pytest.mark.parametrize("spending", ["pocock", "obf"])
def test_racing_false_claim_rate_stays_below_alpha_across_looks(spending):
    rng = np.random.default_rng(11)
    means = dict.fromkeys(("gelu", "relu", "elu", "tanh"), 0.985)
    trials, claims = 800, 0
    for _ in range(trials):
        look, _ = _race(rng, means, first=3, max_looks=5, spending=spending)
        claims += bool(look.decided)
    assert claims / trials <= _bound(trials)


def test_racing_finds_a_clear_loser_with_fewer_seeds_than_the_fixed_protocol():
    rng = np.random.default_rng(12)
    means = {"gelu": 0.988, "relu": 0.988, "elu": 0.983, "sigmoid": 0.95}
    trials, first, max_looks = 200, 3, 5
    fixed_seeds = first + max_looks - 1
    found, false_claims, runs = 0, 0, []
    for _ in range(trials):
        look, used = _race(rng, means, first, max_looks, goal="best")
        found += any(loser == "sigmoid" for _, loser in look.decided)
        false_claims += any({w, l} == {"gelu", "relu"} for w, l in look.decided)
        runs.append(used)
    fixed_runs = len(means) * fixed_seeds
    assert found / trials >= 0.95  # power for the clear loser
    assert false_claims / trials <= _bound(trials)  # gelu and relu are equal here
    assert np.mean(runs) <= 0.85 * fixed_runs  # seeds saved by not re-running settled activations


def test_spending_functions_match_published_values():
    # Lan-DeMets (1983) spending at half the information, two-sided alpha 0.05 (Jennison & Turnbull 2000, ch. 7)
    assert vd.spent(0.5, 0.05, "obf") == pytest.approx(0.00557, abs=1e-5)
    assert vd.spent(0.5, 0.05, "pocock") == pytest.approx(0.0310, abs=1e-4)
    assert vd.spent(1.0, 0.05, "obf") == pytest.approx(0.05) and vd.spent(1.0, 0.05, "pocock") == pytest.approx(0.05)
    with pytest.raises(ValueError, match="spending must be"):
        vd.spent(0.5, 0.05, "linear")


def test_racing_statement_says_what_is_open_and_what_it_takes():
    values = {"gelu": {0: 0.9885, 1: 0.9861, 2: 0.9907}, "relu": {0: 0.9870, 1: 0.9868, 2: 0.9883},
              "sigmoid": {0: 0.90, 1: 0.93, 2: 0.91}}
    look = vd.race_look(values, look=1, max_looks=4)
    assert "gelu vs relu" in look.statement and "seeds each" in look.statement  # open (given up: futile)
    assert set(look.active) >= {"gelu", "relu"} and not look.finished
    with pytest.raises(ValueError, match="look must be"):
        vd.race_look(values, look=5, max_looks=4)


# The example rung: validation accuracy after epoch 1 of sigmoid,relu,elu,gelu,selu,tanh.
RUNG = {"sigmoid": 0.60, "relu": 0.86, "elu": 0.84, "gelu": 0.82, "selu": 0.81, "tanh": 0.80}


def test_successive_halving_stops_exactly_the_rungs_worst_in_any_arrival_order():
    expected = sorted(sorted(RUNG, key=RUNG.get)[: len(RUNG) - Asha(eta=3).keep(len(RUNG))])
    assert "sigmoid" in expected and "gelu" not in vd.halving_stops(RUNG, eta=2)
    for order in itertools.permutations(RUNG):
        assert vd.halving_stops({k: RUNG[k] for k in order}) == expected


def test_successive_halving_breaks_ties_by_key_and_stops_diverged_runs_first():
    rng = random.Random(0)
    scores = {"b": 0.9, "a": 0.9, "c": 0.9, "d": float("nan"), "e": 0.5, "f": 0.95}
    results = set()
    for _ in range(50):
        keys = list(scores)
        rng.shuffle(keys)
        results.add(tuple(vd.halving_stops({k: scores[k] for k in keys}, eta=2)))
    assert results == {("c", "d", "e")}  # keeps f (best) and a, b (ties broken by key); the NaN run goes
    assert vd.halving_stops({"loss_a": 0.1, "loss_b": 0.3}, eta=2, higher_is_better=False) == ["loss_b"]


# --- P(best) calibration by simulation -------------------------------------- #
def _p_best_calibration(method, trials=600, labels=4, seeds=3, spread=2.0, rs=7):
    """Simulated studies whose true means are known: (every P(best) given, whether that activation is truly
    best). True means ~ N(0, spread^2); a per-seed effect shared by all activations (what pairing removes)
    and run noise of unit scale times a per-activation factor in [0.5, 2] (some activations are noisier)."""
    rng = np.random.default_rng(rs)
    given, truth = [], []
    for _ in range(trials):
        mu = rng.normal(0, spread, labels)
        table = (mu[:, None] + rng.normal(0, 1, seeds)[None, :]
                 + rng.normal(0, 1, (labels, seeds)) * rng.uniform(0.5, 2, (labels, 1)))
        r = vd.best_probabilities({f"a{k}": dict(enumerate(table[k])) for k in range(labels)}, resamples=2000,
                                  rng_seed=int(rng.integers(1 << 31)), method=method)
        given += [r[f"a{k}"].p_best for k in range(labels)]
        truth += list(np.arange(labels) == mu.argmax())
    return np.array(given), np.array(truth, dtype=float)


def _bins(given, truth):
    """{decile: (mean P(best) given, share truly best, count)} and the expected calibration error."""
    b = np.minimum((given * 10).astype(int), 9)
    table = {i: (given[b == i].mean(), truth[b == i].mean(), int((b == i).sum())) for i in range(10) if (b == i).any()}
    ece = sum(abs(p - f) * n for p, f, n in table.values()) / len(given)
    return table, ece


def test_p_best_is_calibrated_with_three_seeds_where_the_bootstrap_was_overconfident():
    posterior, truth = _p_best_calibration("posterior")
    table, ece = _bins(posterior, truth)
    for p, f, n in table.values():
        if n >= 100:  # every well-filled decile: truly best about as often as it says
            assert abs(p - f) <= 0.05 + 3 * math.sqrt(max(f * (1 - f), 0.01) / n), (p, f, n)
    top = posterior >= 0.9
    assert truth[top].mean() >= posterior[top].mean() - 0.05
    assert ece <= 0.03
    # The former bootstrap over 3 seeds: its "P(best) >= 0.99" activations were truly best clearly less often.
    boot, truth_b = _p_best_calibration("bootstrap")
    sure = boot >= 0.99
    assert truth_b[sure].mean() < boot[sure].mean() - 0.05
    assert _bins(boot, truth_b)[1] > ece
    print(f"\nP(best) calibration, 4 activations x 3 seeds, 600 studies: posterior ECE {ece:.3f}, P>=0.9 given "
          f"{posterior[top].mean():.3f} vs truly best {truth[top].mean():.3f}; bootstrap ECE "
          f"{_bins(boot, truth_b)[1]:.3f}, P>=0.99 given {boot[sure].mean():.3f} vs truly best "
          f"{truth_b[sure].mean():.3f}")


def test_p_best_posterior_keeps_the_pairing_and_splits_twins_evenly():
    # A shared seed effect far larger than the difference (5 points against 0.05): only pairing sees it.
    gelu = {0: 0.90, 1: 0.95, 2: 0.99, 3: 0.93}
    relu = {s: v - 0.0005 + 0.0015 * (-1) ** s for s, v in gelu.items()}
    r = vd.best_probabilities({"gelu": gelu, "relu": relu}, resamples=20_000)
    d = np.array([gelu[s] - relu[s] for s in gelu])
    # The posterior of the paired mean difference is Student-t (Jeffreys prior): P(diff > 0) in closed form.
    expected = stats.t.cdf(d.mean() / (d.std(ddof=1) / 2), 3)
    assert r["gelu"].p_best == pytest.approx(expected, abs=4 * 0.5 / math.sqrt(20_000))
    same = {0: 0.9861, 1: 0.9875, 2: 0.9849}
    twins = vd.best_probabilities({"relu": same, "twin": dict(same), "sigmoid": {0: .90, 1: .91, 2: .92}})
    assert twins["relu"].p_best == twins["twin"].p_best and twins["relu"].p_best + twins["twin"].p_best > 0.99
    with pytest.raises(ValueError, match="method must be"):
        vd.best_probabilities({"a": same}, method="magic")


def test_equivalent_contenders_end_a_race_for_the_best_and_are_named_as_a_group():
    same = {0: 0.9861, 1: 0.9875, 2: 0.9849, 3: 0.9866}
    values = {"relu": same, "twin": dict(same), "gelu": {s: v + 0.0001 * (-1) ** s for s, v in same.items()},
              "sigmoid": {0: 0.90, 1: 0.93, 2: 0.91, 3: 0.92}}
    look = vd.race_look(values, look=1, max_looks=3, goal="best", tolerance=0.005)
    assert {loser for _, loser in look.decided} == {"sigmoid"}
    assert {frozenset(k) for k in look.equivalent} == {frozenset(p) for p in
                                                       (("relu", "twin"), ("relu", "gelu"), ("twin", "gelu"))}
    assert look.active == [] and look.finished
    assert "relu, twin and gelu are within 0.5 points of each other." in look.statement
    with pytest.raises(ValueError, match="tolerance must be"):
        vd.race_look(values, look=1, max_looks=3, tolerance=-0.1)
