"""Time to a verdict with racing (`actlab compare --until-decided`) against the fixed protocol at the same alpha.

The seed study: the six DEFAULT_ACTIVATIONS, the seed CNN, MNIST from the official files (train
limit as given; the official 10,000 test images), Adam lr 1e-3 with clip_value 0.5, 2 workers.

1. Racing: ``run_race`` from an empty folder, 3 seeds per activation at look 1, then one seed per look
   where a pair is open, up to ``--max-seeds`` (alpha 0.05 family-wise over all pairs and looks).
2. The fixed protocol: every activation with ``--max-seeds`` seeds, all pairs Holm-corrected at alpha
   0.05. Its runs with the seeds the race trained are the same runs (same settings, same seeds, same
   numbers on CPU), so they are reused: the race's folder is completed with the missing seeds. Its
   training time is therefore the race's plus the extra runs', from the same measurement.

With ``--tolerance D`` (accuracy points) the race also decides a pair "equivalent within D" when its
interval at the look's level lies inside [-D, D] (docs/racing.md), and the fixed protocol is read with
the same rule (its Bonferroni simultaneous interval at 1 - alpha/m inside [-D, D]). Because the fixed
protocol's folder holds every seed, the race WITHOUT a tolerance is replayed on it too (the same
function the loop uses), so the epochs racing saves with and without the tolerance come from one set of
runs; the race with a tolerance is replayed for other values of D as a sensitivity check.

Compared: epochs trained, training seconds (sum of the stored per-epoch seconds, divided by the
workers) and wall time, and whether the verdicts agree (the race's decided pairs against the fixed
protocol's Holm-separated pairs). Not interleaved: the two share runs, so the ratio of epochs trained
is the machine-independent number; the matmul rate is measured before and after.

    nice -n 5 .venv/bin/python bench/bench_race.py --train-limit 3000 --max-seeds 5 --tolerance 1 \
        --out /tmp/bench-race-tol
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, machine_info, machine_line, today  # noqa: E402

from actlab.compare import scaleout  # noqa: E402
from actlab.compare.executors import make_executor  # noqa: E402
from actlab.compare.race import race_values  # noqa: E402
from actlab.compare.runner import study_folder  # noqa: E402
from actlab.compare.sweep import DEFAULT_ACTIVATIONS, build_study  # noqa: E402
from actlab.results.verdict import all_pairs, analyse  # noqa: E402
from actlab.store import Store  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "mnist"


def training_seconds(store, workers: int) -> tuple[int, float]:
    rows = store.epochs()
    return len(rows), sum(r["seconds"] or 0.0 for r in rows) / workers


def complete_fixed(study, out: Path, workers: int) -> float:
    """Add every seed up to study.seeds to the race's folder and train the missing runs; returns wall seconds."""
    start = time.perf_counter()
    with study_folder(out), Store(out / "results.sqlite") as store:
        store.add_runs(study.runs())
        executor = make_executor(workers)
        scaleout.execute(study, store, executor, quiet=True)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-limit", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-seeds", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.0, help="indifference zone in accuracy points (0: off)")
    ap.add_argument("--out", default="/tmp/bench-race")
    ap.add_argument("--data-dir", default=str(DATA))
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give a new --out")
    before = machine_info()
    study = build_study(activations=DEFAULT_ACTIVATIONS, model="cnn", dataset="mnist", data_dir=args.data_dir,
                        train_limit=args.train_limit, epochs=args.epochs, seeds=3)
    # The race runs as a user runs it: the real command, its printed output kept beside the results.
    command = ["actlab", "compare", "--dataset", "mnist", "--data-dir", args.data_dir, "--train-limit",
               str(args.train_limit), "--epochs", str(args.epochs), "--until-decided", "--max-seeds",
               str(args.max_seeds), "--workers", str(args.workers), "--out", str(out)]
    if args.tolerance:
        command[-2:-2] = ["--tolerance", str(args.tolerance)]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "actlab.cli", *command[1:]], capture_output=True, text=True)
    race_wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"the race failed ({done.returncode}):\n{done.stderr[-3000:]}")
    output_name = "race-tolerance-output.txt" if args.tolerance else "race-output.txt"
    (HERE / "results" / output_name).write_text(" ".join(command) + "\n\n" + done.stdout)
    tol = args.tolerance / 100  # points -> accuracy
    with Store(out / "results.sqlite", readonly=True) as store:
        outcome = replay_outcome(store, study, args.max_seeds, tol)
    with Store(out / "results.sqlite", readonly=True) as store:
        race_epochs, race_seconds = training_seconds(store, args.workers)
        race_runs = len(store.runs())
    race = outcome.state.last
    race_decided = {(a, b) for a, b in race.decided}
    race_equivalent = {frozenset(k) for k in race.equivalent}
    race_verdict = analyse(race_values_of(out)).sentence

    fixed = replace(study, seeds=args.max_seeds)
    extra_wall = complete_fixed(fixed, out, args.workers)
    with Store(out / "results.sqlite", readonly=True) as store:
        fixed_epochs, fixed_seconds = training_seconds(store, args.workers)
        fixed_runs = len(store.runs())
        values, _ = race_values(store)
    fixed_pairs = all_pairs(values, details=False)
    fixed_decided = {(r.a, r.b) for r in fixed_pairs if r.separated(0.05)}
    fixed_equivalent = {frozenset((r.a, r.b)) for r in fixed_pairs
                        if tol > 0 and -tol <= r.sim_low and r.sim_high <= tol and not r.separated(0.05)}
    fixed_verdict = analyse(values).sentence
    # The race without a tolerance, and with others, replayed on the complete store (every seed is there).
    with Store(out / "results.sqlite", readonly=True) as store:
        plain = replay_outcome(store, study, args.max_seeds, 0.0)
        others = {d: replay_outcome(store, study, args.max_seeds, d / 100) for d in (0.25, 0.5, 1.0, 2.0)}
    after = machine_info()

    def runs_of(o):
        return sum(o.state.seeds_used.values())

    agree = race_decided == fixed_decided and race_equivalent == fixed_equivalent
    lines = [
        "# Racing against the fixed protocol (bench/bench_race.py)", "",
        f"{today()}; `{command_line()}`", "",
        f"Machine before: {machine_line(before)}", f"Machine after: {machine_line(after)}", "",
        f"Study: {', '.join(study.activations)}; seed CNN; MNIST official files, train limit "
        f"{args.train_limit} training images (validation: the {study.val_fraction:.0%} split of the official "
        "training files), official 10,000 test images; "
        f"{args.epochs} epochs; Adam lr {study.lr}, clip_value {study.clip_value}; {args.workers} workers. "
        f"Racing: 3 seeds at look 1, one more per look where a pair is open, at most {args.max_seeds} "
        f"(Pocock-type alpha spending, alpha 0.05 over all pairs and looks). Fixed: {args.max_seeds} seeds each, "
        "all pairs, Holm at 0.05; its runs with the race's seeds are the race's own runs (reused).", "",
        "| protocol | runs | epochs trained | training seconds / workers | wall seconds |",
        "|---|---|---|---|---|",
        f"| racing | {race_runs} | {race_epochs} | {race_seconds:.0f} | {race_wall:.0f} |",
        f"| fixed ({args.max_seeds} seeds) | {fixed_runs} | {fixed_epochs} | {fixed_seconds:.0f} | "
        f"{race_wall + extra_wall:.0f} (race + {extra_wall:.0f} for the extra runs) |", "",
        f"Racing (tolerance {args.tolerance:g} points) trained {race_epochs / fixed_epochs:.0%} of the fixed "
        "protocol's epochs. Replayed on the same runs, racing without a tolerance uses "
        f"{runs_of(plain)} runs ({runs_of(plain) * args.epochs} epochs, "
        f"{runs_of(plain) * args.epochs / fixed_epochs:.0%}); with it, {runs_of(outcome)} runs.", "",
        "| tolerance (points) | runs the race uses | share of the fixed protocol's runs | stopped | decided | "
        "equivalent | open |", "|---|---|---|---|---|---|---|",
        *(f"| {d:g} | {runs_of(o)} | {runs_of(o) / fixed_runs:.0%} | {o.reason} | {len(o.state.last.decided)} | "
          f"{len(o.state.last.equivalent)} | {len(o.state.last.open)} |"
          for d, o in {0.0: plain, **others}.items()), "",
        f"Racing stopped: {outcome.reason}. Its decided pairs (better, worse): "
        f"{sorted(race_decided) or 'none'}.",
        f"Its pairs decided equivalent within {args.tolerance:g} points: "
        f"{sorted(tuple(sorted(p)) for p in race_equivalent) or 'none'}.",
        f"Fixed protocol's Holm-separated pairs: {sorted(fixed_decided) or 'none'}.",
        f"Fixed protocol's pairs whose simultaneous (Bonferroni) interval lies inside +-{args.tolerance:g} points: "
        f"{sorted(tuple(sorted(p)) for p in fixed_equivalent) or 'none'}.",
        f"Verdicts agree (same separated and same equivalent pairs): {'yes' if agree else 'no'}; "
        f"separated by the fixed protocol only: {sorted(fixed_decided - race_decided) or 'none'}; "
        f"by racing only: {sorted(race_decided - fixed_decided) or 'none'}.", "",
        f"The race's printed output is in bench/results/{output_name}; its racing lines:", "", "```",
        *[ln for ln in done.stdout.splitlines() if ln.startswith("racing")], "```", "",
        f"Verdict sentence on the race's runs: {race_verdict}", "",
        f"Verdict sentence on the fixed protocol's runs: {fixed_verdict}", "",
        "Looks (race.json):", "", "```",
        *(f"look {lk['look']} ({lk['seeds']} seeds): decided {[(d['better'], d['worse']) for d in lk['decided']]}; "
          f"active {lk['active']}" for lk in json.loads((out / "race.json").read_text())["looks"]),
        "```",
    ]
    text = "\n".join(lines) + "\n"
    (HERE / "results" / "race.md").write_text(text)
    print(text)


def replay_outcome(store, study, max_seeds: int, tolerance: float = 0.0):
    """The race's final state, replayed from its store (the same function the loop used)."""
    from actlab.compare.race import RaceOutcome, replay
    from actlab.results.summary import describe

    labels = list(dict.fromkeys(describe(r) for r in study.runs()))
    state = replay(store, labels, study.seeds, max_seeds - study.seeds + 1, tolerance=tolerance)
    reason = "decided" if state.last and not state.last.open else "max_seeds"
    return RaceOutcome(state, reason, max_seeds, study.seeds, 0, 0)


def race_values_of(out: Path) -> dict:
    with Store(out / "results.sqlite", readonly=True) as store:
        return race_values(store)[0]


if __name__ == "__main__":
    main()
