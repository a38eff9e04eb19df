"""Racing rules replayed on a complete fixed-protocol study: the training each rule uses and whether its
verdict agrees with the fixed protocol's.

Input: a study folder in which every activation has all ``--max-seeds`` seeds (the fixed protocol). CPU
training is deterministic (tests/test_resume.py), so the race that ``actlab compare --until-decided`` would
run is exactly the race :func:`actlab.compare.race.replay` computes on this store: the same function the
loop calls, reading only the seeds each look asks for. Each rule is replayed; the runs it uses are the
runs the race would train.

Reported per rule (spending function, alpha passing, futility, goal):
- runs and epochs used, as a share of the fixed protocol's;
- training seconds: the stored per-epoch seconds of the runs it uses, over the workers (the race's wall
  time adds the idle lanes of each look's round; the fixed protocol's the same for its one round);
- agreement with the fixed protocol (every activation, ``--max-seeds`` seeds, all pairs Holm at 0.05):
  goal "ranking": the race's decided pairs equal the fixed protocol's Holm-separated pairs; goal "best": the
  race's contenders (activations never found worse than another) equal the fixed protocol's (activations
  not Holm-separated below another);
- what the race left open (pairs, with the seeds they would need);
- a lower bound for ANY race on these runs (an oracle): each pair the fixed protocol separates is decided at
  the first seed count at which its paired t-test on seeds 0..n-1 falls below a level, each activation
  draws the most seeds any of its pairs needs (at least ``--first``), and the rest only ``--first``. At
  level 0.05 the oracle pays nothing for testing many pairs or for looking repeatedly, so its family error
  is far above 5%: a rule with 5% family error needs at least its runs. At 0.05 / (number of separated
  pairs), the most lenient level at which a Bonferroni-Holm step over all pairs decides the last of them,
  it is the bound for Holm-type rules at a single look, before any cost of repeated looks.

    .venv/bin/python bench/bench_race_replay.py /tmp/full10 --max-seeds 10 --workers 2 --out bench/results/race-replay.md
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, machine_info, machine_line, today  # noqa: E402

from actlab.compare.race import race_values, replay  # noqa: E402
from actlab.results.summary import describe  # noqa: E402
from actlab.results.verdict import all_pairs, analyse  # noqa: E402
from actlab.store import Store  # noqa: E402
from scipy import stats  # noqa: E402

def oracle_runs(values: dict, separated, labels, first: int, max_seeds: int, level: float) -> tuple[int, dict]:
    """(runs, seeds per activation) of the oracle race described in the module docstring."""
    need = {label: first for label in labels}
    for a, b in separated:
        n = next((n for n in range(2, max_seeds + 1)
                  if stats.ttest_1samp([values[a][s] - values[b][s] for s in range(n)], 0).pvalue < level),
                 max_seeds)
        need[a], need[b] = max(need[a], n), max(need[b], n)
    return sum(need.values()), need


RULES = [  # (name, spending, method, futility, goal)
    ("before this session: Pocock, Bonferroni", "pocock", "bonferroni", 0.0, "ranking"),
    ("Pocock, Holm", "pocock", "holm", 0.0, "ranking"),
    ("Pocock, Holm, futility 0.1 (default)", "pocock", "holm", 0.1, "ranking"),
    ("Haybittle-Peto, Holm", "peto", "holm", 0.0, "ranking"),
    ("Haybittle-Peto, Holm, futility 0.1", "peto", "holm", 0.1, "ranking"),
    ("Haybittle-Peto, Holm, futility 0.1, best", "peto", "holm", 0.1, "best"),
    ("Pocock, Holm, futility 0.1, best", "pocock", "holm", 0.1, "best"),
    ("O'Brien-Fleming, Holm, futility 0.1", "obf", "holm", 0.1, "ranking"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a study folder holding every activation at every seed")
    ap.add_argument("--first", type=int, default=3, help="seeds at look 1")
    ap.add_argument("--max-seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    folder = Path(args.folder)
    with Store(folder / "results.sqlite", readonly=True) as store:
        runs = store.runs()
        labels = list(dict.fromkeys(describe(r) for r in runs))
        values, _ = race_values(store)
        seconds = {}
        for row in store.epochs():
            key = (describe(row), row["seed"])
            seconds[key] = seconds.get(key, 0.0) + (row["seconds"] or 0.0)
        epochs_of = {(describe(r), r["seed"]): store.stored_epochs(r["run_id"]) for r in runs}
        study = store.study() or {}
        missing = [(label, s) for label in labels for s in range(args.max_seeds) if s not in values.get(label, {})]
        if missing:
            raise SystemExit(f"{folder} lacks {len(missing)} runs of the fixed protocol, e.g. {missing[:3]}")
        states = {name: replay(store, labels, args.first, args.max_seeds - args.first + 1, spending=spending,
                               method=method, futility=futility, goal=goal)
                  for name, spending, method, futility, goal in RULES}
    fixed_values = {label: {s: v for s, v in values[label].items() if s < args.max_seeds} for label in labels}
    pairs = all_pairs(fixed_values, details=False)
    fixed_sep = {(p.a, p.b) for p in pairs if p.separated(0.05)}
    fixed_contenders = set(labels) - {b for _, b in fixed_sep}
    fixed_runs = len(labels) * args.max_seeds
    fixed_epochs = sum(epochs_of[(label, s)] for label in labels for s in range(args.max_seeds))
    fixed_seconds = sum(seconds[(label, s)] for label in labels for s in range(args.max_seeds)) / args.workers
    config = study.get("config") or {}
    lines = [
        "# Racing rules replayed on a complete fixed-protocol study (bench/bench_race_replay.py)", "",
        f"{today()}; `{command_line()}`", "", f"Machine: {machine_line(machine_info())}", "",
        f"Study: {folder} ({', '.join(labels)}; {config.get('model', '?')} on {config.get('dataset', '?')}, "
        f"train limit {config.get('train_limit') or 'none (the whole training split)'}, "
        f"{config.get('epochs', '?')} epochs), every activation at seeds 0-{args.max_seeds - 1}. "
        f"Races start at {args.first} seeds and add one per look up to {args.max_seeds}; alpha 0.05 over all "
        "pairs and looks. Fixed protocol: every activation at "
        f"{args.max_seeds} seeds, all pairs, Holm at 0.05: {fixed_runs} runs, {fixed_epochs} epochs, "
        f"{fixed_seconds:.0f} training seconds over {args.workers} workers.", "",
        "| rule | runs | share of the fixed protocol's epochs | training seconds / workers | decided pairs | "
        "open pairs | verdict agrees with the fixed protocol's |",
        "|---|---|---|---|---|---|---|",
    ]
    details = []
    for name, spending, method, futility, goal in RULES:
        state = states[name]
        last = state.last
        used = [(label, s) for label, n in state.seeds_used.items() for s in range(n)]
        epochs = sum(epochs_of[k] for k in used)
        secs = sum(seconds[k] for k in used) / args.workers
        decided = set(last.decided)
        if goal == "ranking":
            agree = decided == fixed_sep
            how = ("yes" if agree else
                   f"no: fixed only {sorted(fixed_sep - decided) or '-'}; race only {sorted(decided - fixed_sep) or '-'}")
        else:
            contenders = set(labels) - {b for _, b in decided}
            agree = contenders == fixed_contenders
            how = (f"{'yes' if agree else 'no'}: contenders {sorted(contenders)} vs fixed "
                   f"{sorted(fixed_contenders)}")
        lines.append(f"| {name} | {len(used)} | {epochs / fixed_epochs:.0%} | {secs:.0f} | {len(decided)} | "
                     f"{len(last.open)} | {how} |")
        details.append(f"- **{name}**: seeds per activation {dict(state.seeds_used)}; look {last.look} of "
                       f"{last.max_looks}. {last.statement}")
    oracle = []
    for level, why in ((0.05, "no correction for pairs or looks: its family error is far above 5%"),
                       (0.05 / max(1, len(fixed_sep)), f"0.05/{len(fixed_sep)}: the most lenient level at which a "
                        "Bonferroni-Holm step over all pairs decides the last of them; one look")):
        runs, need = oracle_runs(values, fixed_sep, labels, args.first, args.max_seeds, level)
        oracle.append(f"- at level {level:.4g} ({why}): {runs} runs ({runs / fixed_runs:.0%} of the fixed protocol's); "
                      f"seeds {need}")
    lines += ["", "A lower bound for any race on these runs (an oracle that knows at which seed count each separated "
              "pair first crosses the level; see the module docstring):", "", *oracle]
    lines += ["", f"Fixed protocol's Holm-separated pairs: {sorted(fixed_sep)}.", "",
              f"Fixed protocol's verdict: {analyse(fixed_values).sentence}", "", "Each rule's last look:", "",
              *details]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
