"""Error rates by simulation (fixed protocol and racing), racing's savings, and synchronous successive halving."""
import itertools
import math
import random

import numpy as np
import pytest

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
    assert "Open: gelu vs relu" in look.statement and "seeds each" in look.statement
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
