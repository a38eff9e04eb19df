"""What per-epoch checkpointing costs, as a fraction of an epoch, for the seed CNN and a deep MLP (issue 10;
goal <= 3%).

Every compare run saves its state after each epoch but the last (weights,
optimizer state, random streams: ``train_group(checkpoints=True)``) and the
driver writes it beside the store (``Checkpoints.write``, atomic) and deletes
the older one (``keep_only``). Here the same run trains with checkpointing on
and off, side by side: rounds alternate which goes first, and medians are
reported. Two measures per dataset:

* direct: the seconds checkpointing adds to an epoch, timed around exactly
  the work it does (serialising: the engine's ``_Run.checkpoint``, timed
  directly; writing and deleting, inside the callback), over the median
  epoch (the older indirect measure, the gap between one epoch's end and the
  engine's callback on minus off, is reported beside it);
* end to end: the whole run's wall time on against off (the honest total,
  but on a shared machine its noise is larger than the cost itself).

With ``--epochs 1`` each run trains one epoch of a two-epoch plan
(``train_group(until=1)``, a round of successive halving): that epoch carries
the checkpoint a later round resumes from, so one epoch on against one epoch
off measures the cost.

Usage:
    .venv/bin/python bench/bench_checkpoint.py                       # mnist-small, then full MNIST
    .venv/bin/python bench/bench_checkpoint.py --datasets mnist-small --rounds 5 --epochs 3
    .venv/bin/python bench/bench_checkpoint.py --datasets mnist --models cnn,mlp16 --rounds-full 3 --epochs-full 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, machine_info, machine_line, today  # noqa: E402

from actlab.compare.engine import TrainConfig, steady_allocator, train_group  # noqa: E402
from actlab.compare.executors import DataSpec  # noqa: E402
from actlab.compare.training import load_splits  # noqa: E402
from actlab.store import Checkpoints  # noqa: E402

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
MODELS = {"cnn": {"model": "cnn"},  # the seed CNN
          "mlp16": {"model": "mlp", "depth": 16}}  # a deep MLP: 16 hidden layers of 128
DATASETS = {"mnist-small": DataSpec("mnist-small", None, 0.1, 4000, 0),  # the default profile's data
            "mnist": DataSpec("mnist", str(SHARED_MNIST), 0.1, None, 0)}  # full MNIST, --train-limit all


def one_run(splits, epochs: int, checkpoint: bool, folder: Path, model: str = "cnn") -> dict:
    """Train ``model`` (ReLU, seed 0) for ``epochs`` (1: the first epoch of a two-epoch plan, which carries a
    checkpoint); per epoch: training+evaluation seconds, the gap between the epoch's end and the callback
    (where the engine serialises), and the write+delete seconds."""
    from actlab.compare import engine

    config = TrainConfig(activation="relu", seed=0, epochs=max(epochs, 2), **MODELS[model])
    store = Checkpoints(folder)
    out = {"seconds": [], "gap": [], "write": [], "bytes": 0, "serialise": []}
    serialise = engine._Run.checkpoint

    def timed(run):  # the engine's own serialisation, timed directly
        start = time.perf_counter()
        try:
            return serialise(run)
        finally:
            out["serialise"].append(time.perf_counter() - start)
    mark = [time.perf_counter()]

    def on_epoch(index, record) -> None:
        arrived = time.perf_counter()
        out["seconds"].append(record.seconds)
        out["gap"].append(arrived - mark[0] - record.seconds)
        start = time.perf_counter()
        if record.checkpoint is not None:  # what runner.execute does with it
            store.write(0, record.epoch, record.checkpoint)
            store.keep_only(0, record.epoch)
            out["bytes"] = len(record.checkpoint)
        out["write"].append(time.perf_counter() - start)
        mark[0] = time.perf_counter()

    start = time.perf_counter()
    engine._Run.checkpoint = timed
    try:
        train_group([config], splits, on_epoch, checkpoints=checkpoint, until=epochs)
    finally:
        engine._Run.checkpoint = serialise
    out["wall"] = time.perf_counter() - start
    store.keep_only(0, None)
    return out


def measure(name: str, rounds: int, epochs: int, model: str = "cnn", warmup: bool = True) -> dict:
    splits = load_splits(DATASETS[name])
    runs = {True: [], False: []}
    with tempfile.TemporaryDirectory() as folder:
        if warmup:  # the process's first epoch pays one-off costs
            one_run(splits, 1, True, Path(folder), model)
        for r in range(rounds):
            for checkpoint in ((True, False) if r % 2 == 0 else (False, True)):
                runs[checkpoint].append(one_run(splits, epochs, checkpoint, Path(folder), model))
                print(f"  {name} {model} round {r + 1} checkpoint={'on' if checkpoint else 'off'}: "
                      f"{runs[checkpoint][-1]['wall']:.1f} s", file=sys.stderr)
    # Epochs 2 .. epochs-1: epoch 1's gap includes building the model and the last epoch saves no checkpoint.
    # With 2 epochs (full MNIST: minutes an epoch) epoch 1's gaps on and off are compared: building cancels.
    middle = slice(1, epochs - 1) if epochs >= 3 else slice(0, 1)
    gap = {k: statistics.median(g for run in v for g in run["gap"][middle]) for k, v in runs.items()}
    write = statistics.median(w for run in runs[True] for w in run["write"][:max(epochs - 1, 1)])
    epoch = statistics.median(s for v in runs.values() for run in v for s in run["seconds"])
    timed = statistics.median(t for run in runs[True] for t in run["serialise"])
    direct = timed + write
    wall = {k: statistics.median(run["wall"] for run in v) for k, v in runs.items()}
    return {"name": name, "model": model, "train": len(splits.train_y), "eval": len(splits.val_y) + len(splits.test_y),
            "epoch": epoch, "serialise": timed, "gap": gap[True] - gap[False], "write": write, "direct": direct,
            "direct_pct": 100 * direct / epoch, "bytes": runs[True][0]["bytes"], "wall_on": wall[True],
            "wall_off": wall[False], "wall_pct": 100 * (wall[True] - wall[False]) / wall[False],
            "rounds": rounds, "epochs": epochs,
            "per_round": [(a["wall"], b["wall"]) for a, b in zip(runs[True], runs[False])]}


def report(rows: list[dict], info: dict, load: tuple) -> str:
    lines = ["# Checkpoint cost per epoch (seed CNN, deep MLP)", "",
             f"Measured {today()}; load average {load[0]:.1f} (1-minute, at the start).", "",
             f"Machine: {machine_line(info)}.", "",
             "The seed CNN (cnn) and a 16-hidden-layer MLP of width 128 (mlp16), with ReLU (Adam, batch 128, "
             "seed 0), trained with per-epoch checkpointing on and off "
             "side by side (rounds alternate which goes first; medians). Direct cost: serialising (the engine's "
             "`run.checkpoint()`) plus "
             "writing the file atomically and deleting the previous one (`Checkpoints.write`, `keep_only`), "
             "over the median epoch (training plus validation and test evaluation). Serialising is timed "
             "directly around the engine's `_Run.checkpoint` (the gap column is the older, indirect measure: "
             "the extra time between an epoch's end and its callback, on minus off, which also holds any "
             "one-off cost of the first run). End to end: median wall time of the whole run, on against off.", "",
             "| data | model | train images | eval images | epoch s | checkpoint MB | serialise ms | write ms | "
             "direct cost | gap ms | run s on / off | end-to-end |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['model']} | {r['train']:,} | {r['eval']:,} | {r['epoch']:.2f} | "
                     f"{r['bytes'] / 1e6:.1f} | "
                     f"{1000 * r['serialise']:.1f} | {1000 * r['write']:.1f} | **{r['direct_pct']:.2f}%** | "
                     f"{1000 * r['gap']:.0f} | "
                     f"{r['wall_on']:.1f} / {r['wall_off']:.1f} | {r['wall_pct']:+.1f}% |")
    lines.append("")
    for r in rows:
        rounds = ", ".join(f"{on:.1f}/{off:.1f}" for on, off in r["per_round"])
        lines.append(f"{r['name']} {r['model']}: {r['rounds']} round(s) of {r['epochs']} epoch(s); run seconds on/off "
                     "per "
                     f"round: {rounds}.")
    lines += ["", f"Command (rerun it to reproduce): `{command_line()}`", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="mnist-small,mnist", help="comma-separated: mnist-small, mnist")
    parser.add_argument("--rounds", type=int, default=5, help="rounds on mnist-small (on and off each)")
    parser.add_argument("--rounds-full", type=int, default=3, help="rounds on full MNIST (about 30 s an epoch for "
                                                                   "the CNN on 2 idle cores)")
    parser.add_argument("--models", default="cnn", help="comma-separated: cnn (the seed CNN), mlp16 (depth 16)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run on mnist-small (1: one epoch of a "
                                                              "two-epoch plan, see the module docstring)")
    parser.add_argument("--epochs-full", type=int, default=1, help="epochs per run on full MNIST")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "checkpoint.md"))
    args = parser.parse_args(argv)
    if min(args.epochs, args.epochs_full) < 1:
        parser.error("--epochs and --epochs-full must be at least 1")
    steady_allocator()  # as every study's training task does
    load = os.getloadavg()
    info = machine_info()
    print(machine_line(info), file=sys.stderr)
    rows = []
    for name in args.datasets.split(","):
        for model in args.models.split(","):
            rows.append(measure(name, args.rounds_full, args.epochs_full, model) if name == "mnist"
                        else measure(name, args.rounds, args.epochs, model))
            text = report(rows, info, load)
            Path(args.out).write_text(text)  # after each measurement: a long benchmark cut short keeps the rest
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
