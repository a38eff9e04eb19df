"""Per-call cost of actlab's modules and functions on small tensors, against PyTorch's own.

On a small tensor an activation's arithmetic takes a microsecond or two, so
what a call costs is mostly Python and dispatch. For each activation this
times, side by side in one process (interleaved, shuffled rounds, one thread,
this thread's CPU time), one call on a float32 tensor of ``--numel`` elements:

* actlab      - the module ``actlab.get(name)``, whatever path it takes;
* functional  - ``actlab.functional.NAME(x)``;
* torch       - PyTorch's own module of the same definition (``torch.nn.ELU``, ...), where one exists;
* op          - PyTorch's op as the module would call it (``spec.native``), where one exists;
* before      - the module as it ran until 2026-11-30, where that changed: the analytic
                path calling ``autograd.Function.apply`` (which binds its arguments with
                ``inspect.signature`` on every call), and the fused kernels called through
                ``torch.ops.actlab_fused.apply`` (the dispatcher's boxed call) rather than
                fused.cpp's ``Kernel`` (see :func:`former`).

Each in inference (under ``torch.no_grad``) and in training (forward, and
backward of ``y.sum()``-shaped ones into x). A sample is ``--calls`` calls in
a row; medians over ``--repeats`` rounds, in microseconds per call, and the
median over rounds of each round's ratio.

Run:  .venv/bin/python bench/bench_overhead.py --markdown bench/results/overhead.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script from anywhere

from common import (command_line, interleaved_times, machine_info, machine_line, num_threads, today,  # noqa: E402
                    fmt, torch_module, write_report)

import actlab  # noqa: E402
import actlab.functional as AF  # noqa: E402
from actlab.catalog import fused  # noqa: E402

COLUMNS = ("actlab", "functional", "torch", "op", "before")


def candidates(name: str) -> dict:
    """name -> x -> y for each column this activation has."""
    module = actlab.get(name).eval()
    spec, kw = module.spec, module._kwargs()
    fns = {"actlab": module, "functional": getattr(AF, name)}
    theirs = torch_module(name)
    if theirs is not None:
        fns["torch"] = theirs
    if spec.native is not None and spec.native_when(module.params):
        fns["op"] = lambda x: spec.native(x, **kw)
    before = former(name)
    if before is not None:
        fns["before"] = before
    return fns


def former(name: str):
    """The module as it ran until 2026-11-30, where that changed; else None. The same module code but for
    the one call that changed: the analytic path's Function.apply on every call (``run_function`` is given a
    stand-in whose three branches are all ``apply``), or the kernel through torch.ops (the module's kernel
    key pointed at a call of the op)."""
    module = actlab.get(name).eval()
    if module.path == "analytic":
        apply = module._function.apply
        module._function = types.SimpleNamespace(apply=apply, compute=apply, plain=types.SimpleNamespace(apply=apply))
        return module
    if module._kernel is not None and fused.ops() is not None:
        op, p = fused.apply_op(), list(module._kernel)
        module._kernel_key = ("through torch.ops", *module._kernel_key)
        fused._KERNELS[module._kernel_key] = lambda x: op(x, name, p)
        return module
    return None


def batch(fn, x: torch.Tensor, calls: int, train: bool):
    """A step running ``calls`` calls of fn on x: forward under no_grad, or forward and backward."""
    if not train:
        def step():
            with torch.no_grad():
                for _ in range(calls):
                    fn(x)
        return step
    xg = x.detach().clone().requires_grad_(True)
    g = torch.ones_like(fn(xg))

    def step():
        for _ in range(calls):
            fn(xg).backward(g)
        xg.grad = None
    return step


def bench_one(name: str, numel: int, calls: int, repeats: int) -> dict:
    fns = candidates(name)
    x = torch.randn(numel // 16, 16, generator=torch.Generator().manual_seed(0))
    steps = {(col, train): batch(fn, x, calls, train) for col, fn in fns.items() for train in (False, True)}
    times = interleaved_times(steps, repeats=repeats, clock=time.thread_time, shuffle=True)
    us = {k: statistics.median(v) / calls * 1e6 for k, v in times.items()}

    def ratio(a, b, train):
        if (a, train) not in times or (b, train) not in times:
            return None
        return statistics.median(ta / tb for ta, tb in zip(times[(a, train)], times[(b, train)]))

    ratios = {f"{a}/{b}": {train: ratio(a, b, train) for train in (False, True)}
              for a, b in (("actlab", "torch"), ("actlab", "op"), ("actlab", "before"), ("functional", "actlab"))}
    module = fns["actlab"]
    path = "fused" if module._kernel is not None and fused.ops() is not None else module.path
    return {"name": name, "path": path, "us": us, "ratios": ratios}


def table(rows) -> list[str]:
    head = ("| activation | path | " + " | ".join(f"{c} µs" for c in COLUMNS) + " | actlab / torch | "
            "actlab / op | actlab / before | functional / actlab |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for train in (False, True):
        out.append(f"| **{'training (forward + backward)' if train else 'inference (forward, no_grad)'}** |"
                   + " |" * (head.count("|") - 2))
        for r in rows:
            cells = [fmt(r["us"].get((c, train))) for c in COLUMNS]
            ratios = [fmt(r["ratios"][k][train]) for k in ("actlab/torch", "actlab/op", "actlab/before",
                                                          "functional/actlab")]
            out.append(f"| {r['name']} | {r['path']} | " + " | ".join(cells + ratios) + " |")
    return out


def summary(rows) -> list[str]:
    lines = []
    for train, label in ((False, "Inference"), (True, "Training")):
        def med(key, where=lambda r: True):
            vals = [r["ratios"][key][train] for r in rows if where(r) and r["ratios"][key][train] is not None]
            return (statistics.median(vals), min(vals), max(vals), len(vals)) if vals else None

        parts = []
        for key, text in (("actlab/torch", "actlab's module against PyTorch's own module"),
                          ("functional/actlab", "actlab.functional against actlab's module")):
            m = med(key)
            if m:
                parts.append(f"{text}: median {m[0]:.2f} (range {m[1]:.2f}-{m[2]:.2f}, {m[3]} activations)")
        for path, text in (("analytic", "the analytic path against its former Function.apply"),
                           ("fused", "the fused kernels' Kernel against their former torch.ops call")):
            m = med("actlab/before", lambda r, p=path: r["path"] == p)
            if m:
                parts.append(f"{text}: median {m[0]:.2f} (range {m[1]:.2f}-{m[2]:.2f}, {m[3]} activations)")
        lines.append(f"- {label}: " + "; ".join(parts) + ".")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--numel", type=int, default=1024, help="elements per input (default 1024, as rows of 16)")
    ap.add_argument("--calls", type=int, default=50, help="calls per timed sample (default 50)")
    ap.add_argument("--repeats", type=int, default=41, help="timed rounds (median reported; >= 5)")
    ap.add_argument("--only", nargs="*", default=None, help="activation names instead of the whole catalog")
    ap.add_argument("--markdown", default=None, help="write the results as Markdown to this file")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error(f"--repeats must be at least 5 for a meaningful median (got {args.repeats})")
    if args.numel < 16 or args.numel % 16:
        ap.error(f"--numel must be a positive multiple of 16 (rows of 16, for the gated units; got {args.numel})")
    unknown = [n for n in args.only or () if n not in actlab.names()]
    if unknown:
        ap.error(f"unknown activation(s) {unknown}; `actlab list` shows the names")
    names = args.only or [n for n in actlab.names() if not actlab.spec(n).stochastic]
    with num_threads(1):
        info = machine_info()
        rows = []
        for name in names:
            rows.append(bench_one(name, args.numel, args.calls, args.repeats))
            print(f"{name}: " + ", ".join(f"{c}{'/train' if t else ''} {v:.2f}"
                                          for (c, t), v in rows[-1]["us"].items()), flush=True)
    lines = [
        "# Per-call cost on small tensors",
        "",
        f"Date: {today()}  ",
        f"Machine: {machine_line(info)}  ",
        f"Input: {args.numel} float32 elements (rows of 16), normal; {args.calls} calls per sample, median of "
        f"{args.repeats} shuffled rounds after one warmup round; clock: this thread's CPU time, one thread; "
        f"{fused.status()}  ",
        f"Rerun: `{command_line()}`",
        "",
        *summary(rows),
        "",
        *table(rows),
        "",
        "Columns: see the docstring of bench/bench_overhead.py. *before* is what the module called until "
        "2026-11-30 (the analytic path's Function.apply; the fused kernels through torch.ops). A ratio is the "
        "median over rounds of that round's ratio.",
    ]
    write_report(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
