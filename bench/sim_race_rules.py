"""Racing rules against the fixed protocol on simulated studies with known means (seconds, no training).

Each simulated study: 5 activations (gelu 0.988, relu 0.986, elu 0.982, selu 0.980, sigmoid 0.95), a
per-seed effect shared by all activations (SD 0.2 points) plus run noise (SD 0.15 points), 10 seeds. Each
rule races it (3 seeds at look 1, one more per look, at most 10) through
:func:`actlab.results.verdict.race_look`; the fixed protocol tests all pairs at 10 seeds (Holm, 0.05).
Reported: the runs each rule uses as a share of the fixed protocol's, and how often its verdict equals the
fixed protocol's (ranking: the same decided pairs; best: the same contenders).

    .venv/bin/python bench/sim_race_rules.py --studies 150
"""
from __future__ import annotations

import argparse

import numpy as np

from actlab.results.verdict import all_pairs, race_look

MEANS = {"gelu": 0.988, "relu": 0.986, "elu": 0.982, "selu": 0.980, "sigmoid": 0.95}
RULES = [("pocock", 0.0), ("pocock", 0.1), ("obf", 0.1), ("peto", 0.0), ("peto", 0.1)]


def study(rng, means, seeds, seed_sd=0.002, run_sd=0.0015):
    shared = rng.normal(0, seed_sd, seeds)
    return {k: dict(enumerate(m + shared + rng.normal(0, run_sd, seeds))) for k, m in means.items()}


def race(values, labels, first, max_seeds, spending, goal, futility):
    previous, used, looks = None, {k: 0 for k in labels}, max_seeds - first + 1
    for k in range(1, looks + 1):
        n = first + k - 1
        for label in (previous.active if previous else labels):
            used[label] = n
        seen = {label: {s: v for s, v in values[label].items() if s < n} for label in labels}
        previous = race_look(seen, look=k, max_looks=looks, previous=previous, spending=spending, goal=goal,
                             futility=futility)
        if previous.finished:
            break
    return previous, sum(used.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=150)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    labels, max_seeds = list(MEANS), 10
    print("| rule | goal | runs (share of the fixed protocol's) | verdict equals the fixed protocol's |")
    print("|---|---|---|---|")
    for spending, futility in RULES:
        for goal in ("ranking", "best"):
            rng = np.random.default_rng(args.seed)
            runs, agree = [], 0
            for _ in range(args.studies):
                values = study(rng, MEANS, max_seeds)
                look, n = race(values, labels, 3, max_seeds, spending, goal, futility)
                separated = {(p.a, p.b) for p in all_pairs(values, details=False) if p.separated(0.05)}
                if goal == "ranking":
                    agree += set(look.decided) == separated
                else:
                    agree += set(labels) - {b for _, b in look.decided} == set(labels) - {b for _, b in separated}
                runs.append(n)
            print(f"| {spending}, Holm, futility {futility:g} | {goal} | {np.mean(runs) / (max_seeds * len(labels)):.0%} "
                  f"| {agree / args.studies:.0%} |")


if __name__ == "__main__":
    main()
