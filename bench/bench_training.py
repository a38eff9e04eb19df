"""Training throughput of actlab's compare engine against the loop a typical PyTorch user writes.

Every row trains the same study: the seed CNN (ReLU, the same initial weights
per seed) with Adam (lr 1e-3), gradient clipping by value 0.5, batch 128, on
the same real MNIST training images, for the same seeds and epochs, and
evaluates validation and test sets after every epoch. Rows:

* typical PyTorch loop: a DataLoader over a TensorDataset (shuffle=True) for
  training, DataLoaders of 1000 for evaluation under torch.no_grad (as
  PyTorch's MNIST example does), loss and accuracy read with .item() every
  step; one seed after another, torch's default threads (every core).
* actlab engine, in-process: ``train_group`` over the seeds, every core,
  after ``steady_allocator()`` (what ``actlab compare --workers 1`` runs).
* actlab, N worker processes x 1 thread: actlab's own ``ProcessPoolExecutor``
  (what ``actlab compare --workers N`` uses), one run per task, each worker
  calling ``steady_allocator()`` and ``train_group`` with one thread. Its time
  includes starting the processes and each worker loading the data (a study
  pays both); the other rows are timed after loading the data.

The actlab engine's in-process row runs in a fresh process of its own (a
forkserver child), so that its allocator setting cannot reach the typical
loop, which runs in the benchmark's own process with glibc's default
allocator, as a typical script would. That placement favours the typical
loop: in a check of 3 interleaved rounds (2 seeds, 3,000 images, 1 epoch) it
took 12.0-13.9 s here against 14.1-15.1 s in a fresh child process.

Rows run in rounds A B C, A B C, ... (``--repeats``), each round training the
whole study, so that background load hits all alike; reported per row: the
median over rounds of training samples per second of wall time (evaluation
included), the ratio to the typical loop, CPU samples/s for the in-process
rows (process CPU time / threads; less sensitive to other processes), the
mean final validation accuracy over seeds, the machine's 2048^2 float32
matmul GFLOP/s and the load average. ``--ablate`` adds the engine with
``fast=False``; ``--micro`` times each fast layer against its plain
counterpart (forward+backward, batch 128). The markdown report, rerun
command included, goes to ``--markdown``.

    .venv/bin/python bench/bench_training.py            # 10,000 images, 2 epochs, 4 seeds, 1 round (~5 min)
    .venv/bin/python bench/bench_training.py --repeats 5 --step 5   # as in BENCHMARKS.md (~25 min)
    .venv/bin/python bench/bench_training.py --quick    # 3,000 images, 1 epoch, 4 seeds (~2 min quiet)
    .venv/bin/python bench/bench_training.py --quick --ablate --micro
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from functools import lru_cache, partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, machine_info, machine_line, today  # noqa: E402

from actlab.compare.engine import TrainConfig, steady_allocator, train_group  # noqa: E402
from actlab.compare.executors import DataSpec, EpochEvent, ProcessPoolExecutor, WorkUnit  # noqa: E402
from actlab.data import load_dataset, split  # noqa: E402
from actlab.models import ByteDropout, PoolThenActivation, accelerate, build_model  # noqa: E402

MFLOP_PER_SAMPLE = 72.0  # seed CNN, forward + backward, per training sample

NOTES = """
## What the engine does, measured piece by piece

All on the 2-core benchmark machine on 2026-11-22, which other tenants kept busy (the 2048^2 matmul
ran at 98-142 GFLOP/s during these runs against 172-176 when quiet), so single numbers move by 10-20%
from run to run; ratios come from side-by-side runs.

- **One memory layout per part of the network.** The convolutions run in channels_last (oneDNN and
  max pooling are faster in NHWC on this CPU); `Flatten` needs row-major tensors. Left alone, the
  elementwise layers between the pooling and the flatten (activation, dropout) would see a
  channels_last input and a row-major gradient in the backward pass, which PyTorch handles on a slow
  strided path: `threshold_backward` on [128, 64, 12, 12] took 7.6 ms mixed against 0.36 ms in one
  layout, and max pooling's backward copied its 19 MB gradient (12.5 ms). `accelerate()` now leaves
  channels_last right after the last spatial layer, with a backward that hands the gradient back in
  channels_last (`ToContiguous`, or `PoolThenActivation(to_contiguous=True)`).
- **`steady_allocator()`** (called by every study's training task): glibc gives large freed blocks
  back to the system, so every step maps its activations afresh and takes a page fault per 4 KiB on
  first touch. Setting a fixed mmap threshold (32 MiB) and a 1 GiB trim threshold keeps them in the
  heap (a test checks this with glibc's own counters). Median page faults per step in the table
  above: 4,574 -> 404 at 1 thread, 5,520 -> 173 at 2 threads. Single runs vary widely on these VMs
  (six probe runs under load: 860-6,000 faults per step by default, 0-1,400 steady), since the kernel
  also reclaims and faults pages on its own. What the setting saves in time depends on the load:
  in the table above 6% at 1 thread (202 -> 189 ms) and nothing at 2 threads (114 ms both); in an
  earlier run of the same table (19:33, matmul at 98 GFLOP/s) 3% at 1 thread (212 -> 206 ms) and
  13% at 2 threads (160 -> 140 ms); in single-process checks at 1 thread 8-15%.
- **Evaluation in batches of 128 on CPU** (the training batch's scale): batch-1000 tensors of this
  network (37-147 MB) lie above any mmap threshold and fault on every batch: 0.79 s per 1,000 images
  at batch 1000 against 0.40 s at batch 128 (1 thread). Validation and test still go in one pass
  under `torch.inference_mode`.
- Kept from before: max pooling before a non-decreasing activation (`PoolThenActivation`, the
  activation on 4x fewer elements), dropout masks from random bytes (`ByteDropout`; 14.2 -> 4.3 ms for
  Dropout(0.25) on [128, 64, 12, 12] at 1 thread), gradient clipping as one foreach clamp, in-memory
  splits with one permutation per epoch and `index_select` batches, loss and accuracy read once per
  epoch, per-run RNG streams (runs are bit-identical alone or grouped).
- **Worker processes** (`--workers auto`, the pool row): one single-threaded run per core. A second
  thread speeds one step up 1.5-1.8x (table above: 189 -> 114 ms), so the in-process row is close
  behind; whole runs side by side still win by the part of a step that does not parallelise, and pay
  ~3 s per study to start the processes and read the data in each.

## Where the time goes now, and what was tried

One step at 1 thread (~190-206 ms): Conv2d(32, 64, 3) forward 35 ms, input gradient 41 ms and weight
gradient 56-59 ms (oneDNN's jit:avx2 backward-weights kernel, ~46 GFLOP/s against ~80 for a
single-thread matmul), i.e. two thirds of the step; Linear(9216, 128) ~15 ms forward and backward;
the rest is pooling, activations, dropout, Adam and clipping, a few ms each.

Measured and not adopted:
- The weight gradient as nine shifted GEMMs over a zero-padded output gradient (exact; no im2col
  copy): 76-90 ms against oneDNN's 56-59 ms. MKL is slow on 64 x 32 outputs with K = 86,528.
  Earlier: full im2col + GEMMs (228 ms CPU vs oneDNN's 212 for the whole forward+backward) and a
  chunked im2col weight gradient (46 vs 48 ms).
- Winograd F(2x2, 3x3) written with PyTorch ops: forward 129 ms against oneDNN's 34 ms (the
  transforms are memory-bound passes).
- NCHW instead of channels_last for the backward passes only: the same time (59.7 vs 59.3 ms
  weights, 39.9 vs 40.8 ms data) plus the conversions.
- Conv2d(1, 32, 3) as a GEMM, a strided-maximum max pool, fused Adam, torch.compile (~29 s to
  compile, slower steps) and two seeds stacked into one vmapped model (0.87x).
- bfloat16 / AMX: not tried for the study, which is defined in float32 (the machine these were
  tried on, an AMD EPYC Zen 3, had neither AVX-512 BF16 nor AMX; later benchmark machines have
  AVX-512 BF16, which the fused activation kernels use).
"""


def typical_study(seeds: int, s, epochs: int) -> list[float]:
    """The typical loop over the seeds one after another; each seed's final validation accuracy."""
    return [typical_run(seed, s, epochs) for seed in range(seeds)]


def typical_run(seed: int, s, epochs: int) -> float:
    """The loop a typical PyTorch user writes; returns the final validation accuracy."""
    model = build_model("cnn", "relu", seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(seed)
    train_loader = DataLoader(TensorDataset(s.train_x, s.train_y), batch_size=128, shuffle=True)
    val_loader = DataLoader(TensorDataset(s.val_x, s.val_y), batch_size=1000)
    test_loader = DataLoader(TensorDataset(s.test_x, s.test_y), batch_size=1000)
    val_acc = 0.0
    for _ in range(epochs):
        model.train()
        running_loss, running_correct, seen = 0.0, 0, 0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
            optimizer.step()
            running_loss += loss.item() * len(yb)
            running_correct += (out.argmax(1) == yb).sum().item()
            seen += len(yb)
        model.eval()
        for loader in (val_loader, test_loader):
            loss_sum, correct = 0.0, 0
            with torch.no_grad():
                for xb, yb in loader:
                    out = model(xb)
                    loss_sum += F.cross_entropy(out, yb, reduction="sum").item()
                    correct += (out.argmax(1) == yb).sum().item()
            if loader is val_loader:
                val_acc = correct / len(s.val_y)
    return val_acc


def engine_run(seeds: int, s, epochs: int, fast: bool = True) -> list[float]:
    """The engine in this process, all seeds in one group; returns each seed's final validation accuracy."""
    configs = [TrainConfig(model="cnn", activation="relu", seed=seed, epochs=epochs) for seed in range(seeds)]
    return [records[-1].val_acc for records in train_group(configs, s, lambda i, r: None, fast=fast)]


ROW_STUDIES = {"typical": typical_study, "engine": engine_run,
               "engine-plain": partial(engine_run, fast=False)}


def time_row(kind: str, seeds: int, images: int, held_out: int, data_dir: str, epochs: int,
                 steady: bool) -> tuple[float, float, list[float]]:
    """Load the data, set every core's threads (and, with ``steady``, actlab's allocator setting, as
    ``actlab compare --workers 1`` does), then time the study alone. Returns (wall s, CPU s / threads,
    final validation accuracies). Called directly for the typical loop, through :func:`child_row` (a
    fresh process) for the engine."""
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    if steady:
        steady_allocator()
    data = _load(images, held_out, data_dir)
    start, start_cpu = time.perf_counter(), time.process_time()
    accs = ROW_STUDIES[kind](seeds, data, epochs)
    return time.perf_counter() - start, (time.process_time() - start_cpu) / threads, accs


def in_fresh_process(fn, *args):
    """``fn(*args)`` in a new process (a forkserver child, like actlab's workers), so that it inherits no
    other measurement's heap, threads or allocator setting."""
    import concurrent.futures
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
        return pool.submit(fn, *args).result()


def child_row(*args) -> tuple[float, float, list[float]]:
    """:func:`time_row` in a fresh process."""
    return in_fresh_process(time_row, *args)


def pool_task(unit: WorkUnit, emit, held_out: int) -> None:
    """What a worker of the pool does (like actlab's own ``train_unit``): keep freed memory, load the data
    (once per process) and train its run at 1 thread."""
    steady_allocator()
    s = _load(unit.data.train_limit, held_out, unit.data.data_dir)
    configs = [TrainConfig(**c) for c in unit.configs]

    def on_epoch(index: int, record) -> None:
        emit(EpochEvent(unit.run_ids[index], {"epoch": record.epoch, "val_acc": record.val_acc}))

    train_group(configs, s, on_epoch)


def pool_run(seeds: int, workers: int, images: int, held_out: int, data_dir: str, epochs: int) -> list[float]:
    """The same seeds through actlab's process pool (fresh processes: start-up and data loading count)."""
    configs = tuple({"model": "cnn", "activation": "relu", "seed": seed, "epochs": epochs, "threads": 1}
                    for seed in range(seeds))
    unit = WorkUnit(0, tuple(range(seeds)), configs, DataSpec("mnist", data_dir, 0.1, images, 0))
    final: dict[int, float] = {}

    def on_event(event) -> None:
        if isinstance(event, EpochEvent) and event.record["epoch"] == epochs:
            final[event.run_id] = event.record["val_acc"]

    ProcessPoolExecutor(workers, threads=1).run([unit], partial(pool_task, held_out=held_out), on_event)
    return [final[seed] for seed in range(seeds)]


def step_in_child(threads: int, steady: bool, steps: int) -> tuple[float, float, float]:
    """Runs in a fresh process: (wall ms, CPU ms, minor page faults) per training step of the accelerated
    seed CNN at batch 128 (Adam, clip_value 0.5), after 3 warm-up steps."""
    import resource

    torch.set_num_threads(threads)
    if steady:
        steady_allocator()
    model = build_model("cnn", "relu", seed=0)
    net, optimizer = accelerate(model).train(), torch.optim.Adam(model.parameters(), lr=1e-3)
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(128, 1, 28, 28, generator=gen), torch.randint(0, 10, (128,), generator=gen)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        grads = [p.grad for p in params]
        torch._foreach_clamp_min_(grads, -0.5)
        torch._foreach_clamp_max_(grads, 0.5)
        optimizer.step()

    for _ in range(3):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    return wall / steps * 1e3, cpu / steps * 1e3, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps


def step_table(rounds: int, steps: int) -> list[str]:
    """One training step at 1 and 2 threads, with glibc's default allocator and with steady_allocator(),
    each in a fresh process, the four settings interleaved per round; medians over rounds."""
    settings = [(t, steady) for t in (1, 2) for steady in (False, True)]
    results: dict = {k: [] for k in settings}
    for _ in range(rounds):
        for setting in settings:
            results[setting].append(in_fresh_process(step_in_child, *setting, steps))
    lines = ["| threads | allocator | wall ms/step | CPU ms/step | page faults/step |", "|---:|---|---:|---:|---:|"]
    for (t, steady), values in results.items():
        wall, cpu, faults = (statistics.median(v[i] for v in values) for i in range(3))
        lines.append(f"| {t} | {'steady_allocator()' if steady else 'glibc default'} | {wall:.0f} | {cpu:.0f} "
                     f"| {faults:,.0f} |")
    return lines


def micro(repeats: int) -> list[str]:
    """Forward+backward ms (CPU time / threads, median of interleaved repeats) of each fast layer vs plain."""
    from common import interleaved_times

    gen = torch.Generator().manual_seed(0)
    pooled = torch.randn(128, 64, 12, 12, generator=gen).requires_grad_()
    conv = torch.randn(128, 64, 24, 24, generator=gen).requires_grad_()
    pooled_grad = torch.randn(128, 64, 12, 12, generator=gen)
    conv_in = torch.randn(128, 32, 26, 26, generator=gen).requires_grad_()
    weight = torch.randn(64, 32, 3, 3, generator=gen).requires_grad_()
    conv_grad = torch.randn(128, 64, 24, 24, generator=gen)
    channels_last = torch.channels_last
    cl_in = conv_in.detach().contiguous(memory_format=channels_last).requires_grad_()
    cl_weight = weight.detach().contiguous(memory_format=channels_last).requires_grad_()
    cl_conv = conv.detach().contiguous(memory_format=channels_last).requires_grad_()
    relu, pool = torch.nn.ReLU(), torch.nn.MaxPool2d(2)
    pairs = {
        "Dropout(0.25) on [128,64,12,12]": (
            lambda: torch.nn.Dropout(0.25)(pooled).backward(pooled_grad),
            lambda: ByteDropout(0.25)(pooled).backward(pooled_grad)),
        "ReLU + MaxPool2d(2) on [128,64,24,24]": (
            lambda: pool(relu(conv)).backward(pooled_grad),
            lambda: PoolThenActivation(pool, relu)(cl_conv).backward(pooled_grad)),
        "Conv2d(32,64,3), NCHW vs channels_last": (
            lambda: F.conv2d(conv_in, weight).backward(conv_grad),
            lambda: F.conv2d(cl_in, cl_weight).backward(conv_grad.contiguous(memory_format=channels_last))),
    }
    lines = ["| layer(s), forward+backward | plain ms | fast ms | speed-up |", "|---|---:|---:|---:|"]
    threads = torch.get_num_threads()
    for name, (plain, fast) in pairs.items():
        times = interleaved_times({"plain": plain, "fast": fast}, repeats=repeats, warmup=1,
                                  clock=time.process_time)
        a, b = (statistics.median(times[k]) * 1e3 / threads for k in ("plain", "fast"))
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")
    return lines


@lru_cache(maxsize=1)  # a pool worker trains several runs on one load
def _load(images: int, held_out: int, data_dir: str):
    data = split(load_dataset("mnist", data_dir=data_dir, download=False, progress=False),
                 val_fraction=0.1, seed=0, train_limit=images)
    return dataclasses.replace(data, val_x=data.val_x[:held_out], val_y=data.val_y[:held_out],
                               test_x=data.test_x[:held_out], test_y=data.test_y[:held_out])


def _cell(value: float, fmt: str, unit: str = "x") -> str:
    """A table cell: the number and its unit, or n/a for NaN (no CPU time for the pool row)."""
    return "n/a" if value != value else format(value, fmt) + unit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3,000 images, 1 epoch (about 2 min on a quiet machine)")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"), help="folder holding mnist/ (IDX .gz files)")
    parser.add_argument("--ablate", action="store_true", help="also run the engine with fast=False")
    parser.add_argument("--micro", action="store_true", help="also time each fast layer against the plain one")
    parser.add_argument("--step", type=int, default=0, metavar="ROUNDS",
                        help="also time one training step at 1 and 2 threads, default allocator vs "
                             "steady_allocator(), over ROUNDS interleaved rounds")
    parser.add_argument("--seeds", type=int, default=4, help="seeds of the study, the same for every row (default 4)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes of the pool row (default: the cores this process may use)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all rows; medians are reported (default 1)")
    parser.add_argument("--markdown", default=str(Path(__file__).parent / "results" / "training.md"),
                        help="where to write the markdown report")
    args = parser.parse_args()

    images, epochs, held_out = (3000, 1, 1000) if args.quick else (10000, 2, 2000)
    threads = len(os.sched_getaffinity(0))
    workers = args.workers or threads
    torch.set_num_threads(threads)
    info = machine_info()
    print(machine_line(info), flush=True)

    def pool_row() -> tuple[float, float, list[float]]:
        start = time.perf_counter()
        accs = pool_run(args.seeds, workers, images, held_out, args.data_dir, epochs)
        # The pool's work happens in other processes, which this process's CPU clock does not see.
        return time.perf_counter() - start, float("nan"), accs

    study = (args.seeds, images, held_out, args.data_dir, epochs)
    pool_name = f"actlab, {workers} worker processes x 1 thread"
    candidates = {"typical PyTorch loop": partial(time_row, "typical", *study, False),
                  "actlab engine, in-process": partial(child_row, "engine", *study, True)}
    if args.ablate:
        candidates["actlab engine, in-process, fast=False"] = partial(child_row, "engine-plain", *study, True)
    candidates[pool_name] = pool_row
    names = list(candidates)
    samples = images * epochs * args.seeds
    rates: dict[str, list[float]] = {k: [] for k in names}
    cpu_rates: dict[str, list[float]] = {k: [] for k in names}
    accs: dict[str, list[float]] = {k: [] for k in names}
    loads = []
    for round_ in range(args.repeats):
        for name in names:
            wall, cpu, row_accs = candidates[name]()
            accs[name] += row_accs
            rates[name].append(samples / wall)
            cpu_rates[name].append(samples / cpu)
            loads.append(os.getloadavg()[0])
            print(f"  round {round_ + 1}: {name}: {wall:.1f} s, {samples / wall:.0f} samples/s, "
                  f"val_acc {statistics.mean(accs[name][-args.seeds:]):.4f}, load {loads[-1]:.1f}", flush=True)
    rate = {k: statistics.median(v) for k, v in rates.items()}
    cpu_rate = {k: statistics.median(v) for k, v in cpu_rates.items()}
    base, cpu_base = rate[names[0]], cpu_rate[names[0]]

    lines = [
        "# Training throughput: compare engine vs a typical PyTorch loop", "",
        f"Measured {today()}; load average {min(loads):.1f}-{max(loads):.1f} "
        "(1-minute, after each row).", "",
        f"Machine: {machine_line(info)}.", "",
        f"The study: seed CNN with ReLU, Adam lr 1e-3, clip_value 0.5, batch 128; {images:,} real MNIST training "
        f"images, {epochs} epoch(s), seeds 0-{args.seeds - 1} ({samples:,} training samples); validation and test "
        f"({held_out:,} images each) evaluated after every epoch. Rows run in rounds A, B, C, ... "
        f"({args.repeats} round(s), medians reported). Samples/s = training samples / wall time of the whole "
        f"study, evaluation included (the pool row also pays for starting {workers} processes and loading the "
        "data in each); CPU samples/s = the same over process CPU time / threads (in-process rows only).", "",
        "| loop | samples/s | speed-up | CPU samples/s | CPU speed-up | final val acc (mean of seeds) "
        "| % of matmul peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        peak = 100 * rate[name] * MFLOP_PER_SAMPLE / 1e3 / info["matmul_gflops"]
        lines.append(f"| {name} | {rate[name]:.0f} | {rate[name] / base:.2f}x | {_cell(cpu_rate[name], '.0f', '')} | "
                     f"{_cell(cpu_rate[name] / cpu_base, '.2f')} | {statistics.mean(accs[name]):.4f} | {peak:.0f}% |")
    lines += ["", "% of matmul peak: samples/s x 72 MFLOP (forward+backward per training sample; evaluation "
              f"FLOPs not counted) / the 2048^2 float32 matmul rate above (measured at {threads} thread(s)).", "",
              "Per round, samples/s (speed-up over the typical loop of the same round): " + "; ".join(
                  f"{name}: " + ", ".join(f"{r:.0f} ({r / b:.2f}x)" for r, b in zip(rates[name], rates[names[0]]))
                  for name in names) + ".", "",
              f"Command (rerun it to reproduce): `{command_line()}`"]
    if args.step:
        lines += ["", f"One training step, batch 128, each setting in a fresh process (medians of {args.step} "
                  "interleaved rounds of 20 steps; `--step N`):", "", *step_table(args.step, 20)]
    if args.micro:
        lines += ["", "Fast layers vs plain (forward+backward, batch 128, median CPU ms / threads):", "",
                  *micro(5 if args.quick else 11)]
    text = "\n".join(lines) + "\n" + NOTES
    print(text)
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text(text)


if __name__ == "__main__":
    main()
