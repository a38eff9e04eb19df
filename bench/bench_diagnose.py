"""Overhead of actlab.diagnose on the seed CNN: step time with and without the hooks.

The seed network (Conv(1,32,3), act, Conv(32,64,3), act, MaxPool2, Dropout .25,
Flatten, Linear(9216,128), act, Dropout .5, Linear(128,10)), batch 128, Adam.
Two identical copies are trained side by side, one inside ``diagnose(model,
optimizer=opt)``; each timed call is a few full training steps (zero_grad,
forward, cross-entropy, backward, step). Calls are interleaved round-robin and
medians are reported. Inputs are real MNIST images when ../shared/data/mnist
(or --data-dir) is there, else N(0,1) noise of the same shape (said in the output).

    .venv/bin/python bench/bench_diagnose.py [--activation relu] [--rounds 15] [--threads 1]

Wall-clock medians and CPU-time medians (time.process_time) are both reported;
on a busy shared machine the CPU-time figure is the steadier of the two.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, interleaved_times, machine_info, machine_line, today  # noqa: E402

import actlab  # noqa: E402


def seed_cnn(activation: str) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), actlab.get(activation), nn.Conv2d(32, 64, 3), actlab.get(activation),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), actlab.get(activation),
        nn.Dropout(0.5), nn.Linear(128, 10))


def batch(data_dir: str, size: int):
    if os.path.isdir(data_dir):
        from actlab.data import load_dataset

        ds = load_dataset("mnist", data_dir=data_dir, download=False, progress=False)
        x = ds.train_images[:size].float().div(255).unsqueeze(1)
        return x, ds.train_labels[:size], f"real MNIST from {data_dir}"
    gen = torch.Generator().manual_seed(0)
    return torch.randn(size, 1, 28, 28, generator=gen), torch.randint(0, 10, (size,), generator=gen), "N(0,1) noise"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed call")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y, source = batch(args.data_dir, args.batch)
    torch.manual_seed(0)
    plain = seed_cnn(args.activation)
    watched = seed_cnn(args.activation)
    watched.load_state_dict(plain.state_dict())
    opts = {"plain": torch.optim.Adam(plain.parameters()), "diagnose": torch.optim.Adam(watched.parameters())}
    loss_fn = nn.CrossEntropyLoss()
    d = actlab.diagnose(watched, optimizer=opts["diagnose"])

    cpu: dict[str, list[float]] = {"plain": [], "diagnose": []}

    def trainer(key, model, opt):
        def run():
            start = time.process_time()
            for _ in range(args.steps):
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x), y).backward()
                opt.step()
            cpu[key].append(time.process_time() - start)
        return run

    times = interleaved_times({"plain": trainer("plain", plain, opts["plain"]),
                               "diagnose": trainer("diagnose", watched, opts["diagnose"])},
                              repeats=args.rounds, warmup=2)
    d.close()
    med = {k: statistics.median(v) / args.steps for k, v in times.items()}
    # CPU time of this process (warm-up calls dropped): less sensitive than wall time to
    # other jobs on a shared machine, which is what the overhead budget is about
    cpu_med = {k: statistics.median(v[2:]) / args.steps for k, v in cpu.items()}
    overhead = med["diagnose"] / med["plain"] - 1
    cpu_overhead = cpu_med["diagnose"] / cpu_med["plain"] - 1
    info = machine_info()
    print(f"# bench_diagnose, {today()}")
    print(f"machine: {machine_line(info)}")
    print(f"command: {command_line()}")
    print(f"seed CNN, activation {args.activation}, batch {args.batch}, Adam, input: {source}; "
          f"median of {args.rounds} interleaved rounds of {args.steps} steps")
    print(f"step time without diagnose: {med['plain'] * 1e3:.1f} ms")
    print(f"step time with diagnose:    {med['diagnose'] * 1e3:.1f} ms")
    print(f"overhead (wall): {overhead * 100:+.1f}%  (budget: at most +10%)")
    print(f"CPU time per step without / with: {cpu_med['plain'] * 1e3:.1f} / {cpu_med['diagnose'] * 1e3:.1f} ms, "
          f"overhead (CPU): {cpu_overhead * 100:+.1f}%")
    print(f"rows recorded: {len(d.table())} layers over {d.steps} backward passes")


if __name__ == "__main__":
    main()
