"""Time to a verdict: how long until the seed's six activations are ranked with confidence intervals,
with and without ASHA early stopping, in-process, on the process pool and on Ray, with 1 and 2 workers.

Every row runs the same study from an empty folder to its ranking: sigmoid, relu, elu,
leaky_relu:0.2, selu, gelu; the MLP (2 x 128) on the embedded MNIST subset with a training limit,
Adam lr 1e-3 with clip_value 0.5, a few epochs, two seeds. Each row runs in a fresh Python process
(so none inherits loaded data or warm caches from another); its wall time starts after the imports
and includes everything else a user waits for: starting worker processes or a private local Ray
(the Ray start-up is also shown on its own), loading data in each worker, training, writing the
store and the outputs. "workers" is the number of runs trained side by side, each with ``threads``
torch threads. Rows are run once each, in order; on a busy machine expect seconds of noise per row.

    .venv/bin/python bench/bench_verdict.py                  # ~3-5 min on 2 busy cores
    .venv/bin/python bench/bench_verdict.py --epochs 3 --train-limit 300    # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, machine_info, machine_line, today  # noqa: E402

from actlab.compare.asha import Asha  # noqa: E402
from actlab.compare.executors import InProcessExecutor, ProcessPoolExecutor  # noqa: E402
from actlab.compare import run_study  # noqa: E402
from actlab.compare.scaleout import stopped_runs  # noqa: E402
from actlab.compare.sweep import DEFAULT_ACTIVATIONS, build_study  # noqa: E402
from actlab.store import Store  # noqa: E402

# (name, backend, workers, threads per worker, early stopping)
ROWS = [
    ("in-process, 1 worker x 1 thread", "inprocess", 1, 1, False),
    ("in-process, 1 worker x 2 threads (compare's default)", "inprocess", 1, 2, False),
    ("process pool, 2 workers x 1 thread", "pool", 2, 1, False),
    ("Ray, 1 CPU (1 worker x 1 thread)", "ray", 1, 1, False),
    ("Ray, 2 CPUs (2 workers x 1 thread)", "ray", 2, 1, False),
    ("in-process, 1 worker x 1 thread + ASHA", "inprocess", 1, 1, True),
    ("process pool, 2 workers x 1 thread + ASHA", "pool", 2, 1, True),
    ("Ray, 2 CPUs + ASHA", "ray", 2, 1, True),
]


def run_row(study, backend: str, workers: int, threads: int, asha: bool, out: Path) -> dict:
    """Run one row in this process; returns its timings, counts and the final numbers."""
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    ray_start = None
    if backend == "ray":
        from actlab.compare.ray_backend import RayExecutor

        executor = RayExecutor(num_cpus=workers, cpus_per_unit=threads)
        executor.connect()
        ray_start = time.perf_counter() - start
    else:
        executor = InProcessExecutor() if backend == "inprocess" else ProcessPoolExecutor(workers, threads)
    try:
        summary = run_study(study, out, executor=executor, workers=workers, quiet=True,
                            early_stop=Asha(eta=3) if asha else None)
    finally:
        if backend == "ray":
            executor.close()
    wall = time.perf_counter() - start
    with Store(out / "results.sqlite", readonly=True) as store:
        epochs = len(store.epochs())
        stopped = sorted({r["activation"] for r in store.runs() if r["run_id"] in stopped_runs(store)})
    return {"wall": wall, "ray_start": ray_start, "epochs": epochs, "stopped": stopped, "rows": summary.rows,
            "results": [[r.label, r.seed, r.test_acc] for r in summary.results]}


def run_row_in_child(args, index: int, out: Path) -> dict:
    """Run row ``index`` in a fresh interpreter and read its JSON result."""
    command = [sys.executable, os.path.abspath(__file__), "--row", str(index), "--row-out", str(out),
               "--epochs", str(args.epochs), "--train-limit", str(args.train_limit), "--seeds", str(args.seeds)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"row {index} ({ROWS[index][0]}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_study(args):
    return build_study(activations=DEFAULT_ACTIVATIONS, seeds=args.seeds, epochs=args.epochs, model="mlp",
                       train_limit=args.train_limit)


def ranking_text(rows) -> str:
    return "; ".join(f"{r['rank']}. {r['label']} {r['test_acc_mean']:.4f} [{r['test_acc_ci_low']:.4f}, "
                     f"{r['test_acc_ci_high']:.4f}]" for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (ASHA rungs at 1 and 3 for 4)")
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", default="bench/results/verdict.md")
    parser.add_argument("--row", type=int, help=argparse.SUPPRESS)  # internal: run one row, print JSON
    parser.add_argument("--row-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.row is not None:
        _, backend, workers, threads, asha = ROWS[args.row]
        print(json.dumps(run_row(make_study(args), backend, workers, threads, asha, Path(args.row_out))))
        return

    import torch

    torch.set_num_threads(2)
    info = machine_info()
    study = make_study(args)
    planned = len(study.activations) * args.seeds * args.epochs
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, *_) in enumerate(ROWS):
            row = run_row_in_child(args, i, Path(tmp) / str(i))
            results.append((name, row))
            print(f"{name}: {row['wall']:.1f} s, {row['epochs']}/{planned} epochs, "
                  f"stopped {row['stopped'] or '-'}", flush=True)

    base = results[0][1]
    base_numbers = {(label, seed): acc for label, seed, acc in base["results"]}
    lines = [
        "# Time to a verdict: backends, workers and ASHA early stopping",
        "",
        f"Measured {today()} with `{command_line()}`.",
        "",
        f"Machine: {machine_line(info)}; load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Study: the seed's six activations ({', '.join(study.activations)}), MLP 2 x 128, embedded MNIST subset "
        f"limited to {args.train_limit} training images (validation 1,000, test 2,000), Adam lr 1e-3, "
        f"clip_value 0.5, batch 128, {args.epochs} epochs, {args.seeds} seeds = {planned} planned epochs. "
        "Each row in a fresh process; wall time from after the imports to the written ranking, start-up of "
        "workers or Ray and data loading included; one run per row.",
        "",
        "| backend | wall s | vs row 1 | Ray start-up s | epochs trained | stopped early | same numbers as row 1 "
        "| winner |",
        "|---|---:|---:|---:|---:|---|---|---|",
    ]
    for name, row in results:
        # ASHA rows rank only the survivors: their runs are compared with the same runs of row 1.
        same = all(base_numbers.get((label, seed)) == acc for label, seed, acc in row["results"])
        ray_start = "" if row["ray_start"] is None else f"{row['ray_start']:.1f}"
        lines.append(
            f"| {name} | {row['wall']:.1f} | {base['wall'] / row['wall']:.2f}x | {ray_start} | "
            f"{row['epochs']}/{planned} | {', '.join(row['stopped']) or '-'} | {'yes' if same else 'no'} | "
            f"{row['rows'][0]['label']} |")
    lines += ["", "Full verdict (row 1): " + ranking_text(base["rows"]), ""]
    for name, row in results:
        if row["stopped"]:
            lines.append(f"Verdict with ASHA ({name}): " + ranking_text(row["rows"]))
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
