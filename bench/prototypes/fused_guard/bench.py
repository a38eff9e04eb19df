"""Fused kernels against PyTorch's native hardshrink / ELU, side by side in one process.

Training: y = f(x); y.backward(g) (x.grad reset each call). Inference: f(x) under no_grad.
Per round every contender is timed once (inner loop of k calls), in a rotating order; the
ratio is the median over rounds of (contender / native) within the round. Two clocks: wall
(perf_counter) and process CPU time (all threads of this process; at 1 thread it does not
count time lost to other processes on this shared machine).

Run: .venv/bin/python bench/prototypes/fused_guard/bench.py --rounds 21 --variants avx512 plain
"""
import argparse
import math
import statistics
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fused import build, functions  # noqa: E402


def matmul_gflops(threads, n=2048, reps=5):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def timed(fn, k):
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(k):
        fn()
    return (time.perf_counter() - w0) / k, (time.process_time() - c0) / k


def contenders(op, p, x, g, exts):
    native = (lambda t: F.hardshrink(t, p)) if op == "hardshrink" else (lambda t: F.elu(t, p))

    def train(f):
        def run():
            x.grad = None
            f(x).backward(g)
        return run

    def guarded(t):  # today's module path: one read of x, then the native op
        if math.isfinite(t.sum().item()):
            return native(t)
        raise AssertionError("bench input is finite")

    tr = {"native": train(native), "guard+native": train(guarded)}
    inf = {"native": lambda: native(x)}
    for v, ext in exts.items():
        Hs, Elu = functions(ext)
        Fn = Hs if op == "hardshrink" else Elu
        tr[f"{v} py-Function"] = train(lambda t, Fn=Fn: Fn.apply(t, p))
        if hasattr(ext, "elu_autograd"):
            cpp = ext.hardshrink_autograd if op == "hardshrink" else ext.elu_autograd
            tr[f"{v} C++-Function"] = train(lambda t, cpp=cpp: cpp(t, p))
        inf[f"{v} py-Function"] = lambda Fn=Fn: Fn.apply(x, p)
        fwd = ext.hardshrink_forward if op == "hardshrink" else ext.elu_forward
        inf[f"{v} direct"] = lambda fwd=fwd: fwd(x, p)
    inf["guard+native"] = lambda: guarded(x)
    return tr, inf


def run_group(group, k, rounds):
    names = list(group)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for n in names:  # warm-up
        group[n]()
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            w, c = timed(group[n], k)
            wall[n].append(w)
            cpu[n].append(c)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--variants", nargs="+", default=["avx512"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--sizes", nargs="+", type=int, default=[20, 22])
    ap.add_argument("--ops", nargs="+", default=["hardshrink", "elu"])
    a = ap.parse_args()
    exts = {v: build(v)[0] for v in a.variants}
    print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}")
    print("matmul 2048^2 fp32 GFLOP/s before: " + ", ".join(f"{t} thr {matmul_gflops(t):.1f}" for t in a.threads))
    rows = []
    for threads in a.threads:
        torch.set_num_threads(threads)
        for lg in a.sizes:
            n = 2**lg
            gen = torch.Generator().manual_seed(lg)
            x = (torch.randn(n, generator=gen) * 2).requires_grad_(True)
            g = torch.randn(n, generator=gen)
            for op in a.ops:
                p = 0.5 if op == "hardshrink" else 1.0
                tr, inf = contenders(op, p, x, g, exts)
                for mode, group in (("train", tr), ("infer", inf)):
                    k = max(1, int(2**23 / n) * (1 if mode == "train" else 2))
                    with torch.set_grad_enabled(mode == "train"):
                        wall, cpu = run_group(group, k, a.rounds)
                    for name in group:
                        rw = statistics.median(w / b for w, b in zip(wall[name], wall["native"]))
                        rc = statistics.median(w / b for w, b in zip(cpu[name], cpu["native"]))
                        ns = statistics.median(wall[name]) / n * 1e9
                        nc = statistics.median(cpu[name]) / n * 1e9 / threads
                        rows.append((op, mode, threads, lg, name, ns, nc, rw, rc))
                        print(f"{op:10s} {mode:5s} thr={threads} n=2^{lg} {name:22s} wall {ns:6.3f} ns/el "
                              f"cpu/thr {nc:6.3f} ns/el  ratio wall {rw:5.3f} cpu {rc:5.3f}", flush=True)
    print("matmul 2048^2 fp32 GFLOP/s after: " + ", ".join(f"{t} thr {matmul_gflops(t):.1f}" for t in a.threads))


if __name__ == "__main__":
    main()
