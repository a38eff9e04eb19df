"""Forward+backward speed and saved-tensor memory of every actlab activation.

For each activation (default parameters, plus a few settings that take a
different implementation path) this times one forward and one backward pass
over a large float32 tensor for:

* actlab   - the module ``actlab.get(spec)`` (whatever path it picks);
* native   - PyTorch's own op with the same definition and parameters, where one exists;
* analytic - the autograd.Function that saves only x and differentiates analytically;
* composite- the definition's formula differentiated by plain autograd;
* actlab_inference / native_inference - modules on the native path: the module and
             the bare op forward-only under ``torch.no_grad`` (for exact-limit ones the cost
             of exact limits in inference, for the others the noise floor of that ratio);
* guard / guard_inference - for modules that run actlab's fused kernel (path "fused",
             catalog/fused.py), the same module on its Python guard, as it runs where the
             kernels are not built.
* floor    - the memory-bandwidth floor of any elementwise activation:
             ``x.clone()`` (forward: read x, write y) plus ``g * x`` (backward:
             read the incoming gradient and one saved tensor, write the input
             gradient). No activation can move less memory than this.

All candidates of one activation, the floor included, run interleaved (round
robin, order rotated each round) after a warmup round; medians are reported.
Saved-tensor memory is the number of bytes autograd keeps alive for backward
(distinct storages, counted with ``torch.autograd.graph.saved_tensors_hooks``),
per input element; the input itself counts when it is saved.

Run:  .venv/bin/python bench/bench_activations.py --markdown bench/results/activations.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run as a script from anywhere

from common import (command_line, interleaved_times, machine_info, machine_line, medians, num_threads,  # noqa: E402
                    fmt, today, torch_module, write_report)

import actlab  # noqa: E402
from actlab.catalog import fused  # noqa: E402
from actlab.catalog.module import run_function  # noqa: E402
from actlab.compare.engine import steady_allocator  # noqa: E402
from actlab.catalog.cost import forward_backward, input_for, saved_bytes_per_element  # noqa: E402

# Settings besides the defaults that exercise another path (analytic vs native).
EXTRA = ("silu:beta=2.0", "softplus:threshold=20.0", "leaky_relu:negative_slope=0.2")
NATIVE_TARGET = 1.25  # the bound: no slower than 1.25x PyTorch's own op
# Where the module guards PyTorch's op for exact limits (Activation.native_range),
# the guard (one read of x, skipped where a run-time probe finds the op right at
# +-inf and NaN: actlab.catalog.module.native_trusted) should cost at most 5% over
# the bare op. Guarded rows are also timed forward-only under no_grad (inference).
GUARD_TARGET = 1.05
COLD_SWEEP = 64 * 2 ** 20  # --cold: bytes written before each timed call, twice a 32 MiB last-level cache
MEMORY_PROBE = 2 ** 16  # saved bytes per element do not depend on size; keep the probe cheap


def candidates(spec_string: str) -> tuple[torch.nn.Module, dict]:
    """The actlab module and every implementation of it worth timing, as x -> y callables."""
    module = actlab.get(spec_string).eval()
    spec = module.spec
    kw = module._kwargs()  # the module's own parameter values, learned ones as tensors
    fns = {"actlab": module}
    if spec.native is not None and spec.native_when(module.params):
        fns["native"] = lambda x: spec.native(x, **kw)
    function = module._function
    if function is not None and not list(module.parameters()):
        fns["analytic"] = lambda x: run_function(function, x, *kw.values())  # as the module calls it
    fns["composite"] = lambda x: spec.forward(x, **kw)
    return module, fns


def floor_step(x: torch.Tensor):
    x = x.detach()
    g = torch.randn_like(x)

    def step():
        x.clone()
        torch.mul(g, x)

    return step


def inference_step(fn, x: torch.Tensor):
    """A no-argument step running ``fn(x)`` forward only, under ``torch.no_grad``."""
    x = x.detach()

    def step():
        with torch.no_grad():
            fn(x)

    return step


def bench_one(spec_string: str, numel: int, repeats: int, clock, dtype=torch.float32, scale: float = 1.0,
              warm: bool = False, before=None) -> dict:
    module, fns = candidates(spec_string)
    x = input_for(spec_string, numel, dtype=dtype)
    if scale != 1.0:  # a wider (or narrower) normal input: some kernels take another formula in the tails
        x = (x.double() * scale).to(dtype)
    params = list(module.parameters())
    steps = {name: forward_backward(fn, x, params) for name, fn in fns.items()}
    steps["floor"] = floor_step(x)
    guarded = module.path == "native" and module.spec.native_range is not None
    kernel = module._kernel is not None and fused.applies(x)
    # Inference too: there the guard may skip its check (actlab.catalog.module.native_trusted); unguarded
    # native rows give the noise floor of that ratio.
    if module.path == "native" and "native" in fns and not module.spec.stochastic:
        steps["actlab_inference"] = inference_step(fns["actlab"], x)
        steps["native_inference"] = inference_step(fns["native"], x)
        theirs = torch_module(spec_string)
        if theirs is not None:  # PyTorch's own module: a module's call costs Python either way
            steps["torch_module"] = forward_backward(theirs, x, [])
            steps["torch_module_inference"] = inference_step(theirs, x)
    if kernel:  # the same module on its Python guard, as where the kernels are not built
        guard = actlab.get(spec_string).eval()
        guard._kernel = None
        steps["guard"] = forward_backward(guard, x, [])
        steps["guard_inference"] = inference_step(guard, x)
    # Two groups, each interleaved within itself: the module against the ops it is held to (the targets), and
    # the implementations that only explain it (composite, analytic, the guard), with the op again as their
    # reference. A composite call (several ms at 1 MiB: PyTorch's where and comparisons are not vectorised)
    # interleaved with the targets sweeps the caches and disturbs the calls after it: the module's ratio to the
    # op then moved by 10-20% with quartiles 0.85-1.3 (2026-11-30).
    diagnostic = {k: steps.pop(k) for k in ("analytic", "composite", "guard", "guard_inference") if k in steps}
    for k in ("native", "native_inference"):
        if k in steps and diagnostic:
            diagnostic[k + "_again"] = steps[k]
    times = interleaved_times(steps, repeats=repeats, clock=clock, shuffle=True, warm=warm, before=before)
    times.update(interleaved_times(diagnostic, repeats=repeats, clock=clock, shuffle=True, warm=warm, before=before))
    per_element = {k: v / x.numel() for k, v in medians(times).items()}
    # Ratios side by side: the median over rounds of each round's ratio (steadier than a ratio of medians).
    pairs = (("actlab", "native"), ("actlab_inference", "native_inference"), ("guard", "native_again"),
             ("guard_inference", "native_inference_again"), ("actlab", "torch_module"),
             ("actlab_inference", "torch_module_inference"), ("torch_module", "native"),
             ("torch_module_inference", "native_inference"))
    ratios = {f"{a}/{b}": sorted(ta / tb for ta, tb in zip(times[a], times[b])) for a, b in pairs
              if a in times and b in times}
    paired = {k: statistics.median(v) for k, v in ratios.items()}
    spread = {k: (v[len(v) // 4], v[(3 * len(v)) // 4]) for k, v in ratios.items()}  # quartiles
    probe = input_for(spec_string, MEMORY_PROBE).requires_grad_(True)
    saved = {name: saved_bytes_per_element(fn, probe) for name, fn in fns.items()}
    return {"spec": spec_string, "path": "fused" if kernel else module.path,
            "ns": {k: v * 1e9 for k, v in per_element.items()}, "paired": paired, "spread": spread,
            "saved": saved, "guarded": guarded}


def ratio(a, b):
    return None if a is None or b is None else a / b


def verdict(row) -> str:
    """Does the analytic Function pay against plain autograd of the composite (memory and time)?"""
    ns, saved = row["ns"], row["saved"]
    if "analytic" not in ns:
        return "-"
    less_memory = saved["analytic"] < saved["composite"]
    faster = ns["analytic"] <= ns["composite"]
    if less_memory and faster:
        return "yes"
    if less_memory:
        return "memory only"
    return "faster only" if faster else "no"


def table(rows) -> list[str]:
    head = ("| activation | actlab path | actlab ns/elem | native ns/elem | actlab / native | actlab / floor "
            "| composite / analytic (time) | analytic pays? | saved B/elem: actlab | analytic | composite | native |")
    lines = [head, "|" + "|".join(["---"] * 12) + "|"]
    for r in rows:
        ns, saved = r["ns"], r["saved"]
        flag = ""
        native_ratio = ratio(ns["actlab"], ns.get("native"))
        if native_ratio is not None and native_ratio > NATIVE_TARGET:
            flag = " **over target**"
        lines.append(
            f"| {r['spec']} | {r['path']} | {fmt(ns['actlab'])} | {fmt(ns.get('native'))} "
            f"| {fmt(native_ratio)}{flag} | {fmt(ratio(ns['actlab'], ns['floor']))} "
            f"| {fmt(ratio(ns['composite'], ns.get('analytic')))} | {verdict(r)} "
            f"| {fmt(saved['actlab'], 1)} | {fmt(saved.get('analytic'), 1)} | {fmt(saved['composite'], 1)} "
            f"| {fmt(saved.get('native'), 1)} |")
    return lines


def summary(rows) -> list[str]:
    over = [r["spec"] for r in rows if "native" in r["ns"]
            and r["ns"]["actlab"] / r["ns"]["native"] > NATIVE_TARGET]
    floors = sorted(r["ns"]["floor"] for r in rows)
    analytic = [r for r in rows if r["path"] == "analytic"]
    slower = [f"{r['spec']} ({r['ns']['composite'] / r['ns']['analytic']:.2f})" for r in analytic
              if r["ns"]["analytic"] > r["ns"]["composite"]]
    kept_composite = [r["spec"] for r in rows if r["path"] == "composite" and "analytic" in r["ns"]]
    guarded = [(r["spec"], r["paired"]["actlab/native"]) for r in rows if r.get("guarded")]
    quartiles = {r["spec"]: r["spread"]["actlab/native"] for r in rows if r.get("guarded")}
    floor_rows = [f"{r['spec']} {r['paired']['actlab/native']:.2f} [{r['spread']['actlab/native'][0]:.2f}, "
                  f"{r['spread']['actlab/native'][1]:.2f}]" for r in rows
                  if not r.get("guarded") and r["path"] == "native" and "actlab/native" in r["paired"]]
    guard_over = [f"{s} ({g:.2f})" for s, g in guarded if g > GUARD_TARGET]
    inference = [(r["spec"], r["paired"]["actlab_inference/native_inference"])
                 for r in rows if "actlab_inference/native_inference" in r["paired"] and r.get("guarded")]
    inference_over = [f"{s} ({g:.2f})" for s, g in inference if g > GUARD_TARGET]
    unguarded = [f"{r['spec']} {r['paired']['actlab_inference/native_inference']:.2f}"
                 for r in rows if "actlab_inference/native_inference" in r["paired"] and not r.get("guarded")]
    python_guard = [(r["spec"], r["paired"]["guard/native_again"],
                     r["paired"]["guard_inference/native_inference_again"]) for r in rows if "guard/native_again" in r["paired"]]
    paths = sorted({r["path"] for r in rows if r.get("guarded")})
    theirs = [(r["spec"], r["paired"]["actlab/torch_module"], r["paired"]["actlab_inference/torch_module_inference"])
              for r in rows if "actlab/torch_module" in r["paired"]]
    theirs_wrap = [(r["spec"], r["paired"]["torch_module/native"],
                    r["paired"]["torch_module_inference/native_inference"])
                   for r in rows if "torch_module/native" in r["paired"]]
    return [
        f"- Exact limits (path {' / '.join(paths) or '-'}: "
        + ("actlab's fused kernel, the limits inside the op's one pass; " if "fused" in paths else "")
        + ("the Python guard: the native op only on finite, in-range input, otherwise the definition's formula; "
           if "native" in paths else "")
        + f"{fused.status()}), target at most {GUARD_TARGET:.2f}x the bare op, median of the per-round "
        "ratios [quartiles]. Forward+backward: "
        + ", ".join(f"{s} {g:.2f} [{quartiles[s][0]:.2f}, {quartiles[s][1]:.2f}]" for s, g in guarded) + ". "
        + ("All within target." if not guard_over else f"Over target: {', '.join(guard_over)}.")
        + (f" The same ratio for unguarded native ops (the module calls exactly the op: the noise of this "
           f"measure): {', '.join(floor_rows)}." if floor_rows else ""),
        *(["- The same in inference (forward only, under no_grad): "
           + ", ".join(f"{s} {g:.2f}" for s, g in inference) + ". "
           + ("All within target." if not inference_over else f"Over target: {', '.join(inference_over)}.")
           + (f" Unguarded native ops, the noise floor of this ratio: {', '.join(unguarded)}." if unguarded else "")]
          if inference else []),
        *(["- Against PyTorch's own module (nn.GELU, nn.Hardtanh, ...: a module's call costs Python either way), "
           "forward+backward / inference: " + ", ".join(f"{s} {g:.2f} / {i:.2f}" for s, g, i in theirs)
           + ". PyTorch's own module against its bare op, the same pairs: "
           + ", ".join(f"{s} {g:.2f} / {i:.2f}" for s, g, i in theirs_wrap) + "."] if theirs else []),
        *(["- For comparison, the Python guard that runs where the kernels are not built (one read of x, "
           "skipped where a run-time probe finds the op right at +-inf and NaN), forward+backward / inference: "
           + ", ".join(f"{s} {g:.2f} / {i:.2f}" for s, g, i in python_guard) + "."] if python_guard else []),
        f"- Target: actlab no slower than {NATIVE_TARGET}x native where native exists. "
        + ("Met for every activation with a native op." if not over else f"Over target: {', '.join(over)}."),
        f"- Floor (clone + multiply) median over all groups: {floors[len(floors) // 2]:.2f} ns/elem.",
        f"- actlab uses the analytic Function for {len(analytic)} rows; it saves less memory than plain "
        f"autograd of the composite in {sum(r['saved']['analytic'] < r['saved']['composite'] for r in analytic)} "
        "of them and is slower in time for: " + (", ".join(slower) or "none") + ".",
        "- Composite kept (plain autograd keeps no more than the input, so the Function cannot pay): "
        + (", ".join(kept_composite) or "none") + ".",
        "- 'composite / analytic (time)' above 1 means the analytic Function is faster than plain autograd; "
        "'analytic pays?' also asks whether it saves fewer bytes. Rows with path 'native' show the "
        "Function only for information.",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--numel", type=int, default=2 ** 22,
                    help="elements per input tensor (default 2**22: 16 MiB, far beyond the CPU caches but below "
                         "glibc's 32 MiB mmap limit, above which every tensor is freshly mapped and page faults "
                         "dominate the timing)")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds per activation (median reported; >= 5)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time (default), or this thread's CPU time, which ignores time lost to other "
                         "processes on a busy machine (needs --threads 1)")
    ap.add_argument("--only", nargs="*", default=None, help="spec strings to run instead of the whole catalog")
    ap.add_argument("--markdown", default=None, help="write the results as Markdown to this file")
    ap.add_argument("--dtype", choices=("float32", "float64", "bfloat16", "float16"), default="float32",
                    help="the input's dtype (default float32)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="standard deviation of the normal input (default 1; a kernel whose formula depended "
                         "on the input's range would cost differently; GELU's did until 2026-11-30)")
    ap.add_argument("--warm", action="store_true",
                    help="time each call right after an untimed call of the same step, so that a tensor that fits "
                         "in cache is in cache (without it the composite candidate, ~2 ms a call at 1 MiB, sweeps "
                         "the caches and the next call pays for main memory and for a cold interpreter)")
    ap.add_argument("--cold", action="store_true",
                    help="before each timed call write a buffer of COLD_SWEEP bytes (untimed): the call starts with "
                         "x, its gradient, the interpreter's and torch's data out of cache, as after a large "
                         "layer (the per-call cost a network sees between its layers)")
    ap.add_argument("--build-kernels", action="store_true",
                    help="first build actlab's fused kernels for this process's CPU width where they are not "
                         "built (as `actlab kernels build`; for a run under ATEN_CPU_CAPABILITY=avx2, say)")
    args = ap.parse_args(argv)
    if args.build_kernels and fused.ops() is None and fused.compiler():
        print(f"building the fused kernels for {fused.capability()} ...", file=sys.stderr, flush=True)
        fused.build()
    if not args.scale > 0:
        ap.error(f"--scale must be positive (got {args.scale})")
    if args.warm and args.cold:
        ap.error("--warm and --cold are opposite settings: choose one")
    if args.repeats < 5:
        ap.error(f"--repeats must be at least 5 for a meaningful median (got {args.repeats})")
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu counts only the calling thread's CPU time, so it needs --threads 1")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    # As in training: 16 MiB buffers from the heap, kept, rather than freshly mapped (4,096 page faults each,
    # about the cost of a cheap op's pass) in an order that differs between candidates.
    steady = steady_allocator()
    sweep_buffer = torch.empty(COLD_SWEEP // 4) if args.cold else None

    specs = args.only if args.only else [*actlab.names(), *EXTRA]
    with num_threads(args.threads):
        info = machine_info()
        rows = []
        for s in specs:
            rows.append(bench_one(s, args.numel, args.repeats, clock, getattr(torch, args.dtype), args.scale,
                                  args.warm, (lambda: sweep_buffer.fill_(1.0)) if args.cold else None))
            print(table([rows[-1]])[-1], flush=True)
    lines = [
        "# Activation speed and memory",
        "",
        f"Date: {today()}  ",
        f"Machine: {machine_line(info)}  ",
        f"Input: {args.numel} {args.dtype} elements, normal with standard deviation {args.scale:g} (softmax: rows "
        f"of 10), forward + backward, "
        f"median of {args.repeats} rounds in a shuffled order after one warmup round"
        + ("; each timed call right after an untimed call of the same step (`--warm`: in cache)" if args.warm else "")
        + (f"; before each timed call an untimed write of {COLD_SWEEP // 2**20} MiB (`--cold`: x, its gradient and "
           "the interpreter's data out of cache)" if args.cold else "")
        + "; clock: "
        + ("this thread's CPU time" if args.clock == "cpu" else "wall time")
        + ("; allocator: glibc's mmap threshold fixed at 32 MiB, so every 16 MiB buffer comes from the heap "
           "and no call pays 4,096 fresh page faults (actlab.compare.engine.steady_allocator, as in training)."
           if steady else "; allocator: the C library's default.") + "  ",
        f"Rerun: `{command_line()}`  ",
        ("Taken on a busy machine, hence `--threads 1 --clock cpu` (time lost to other processes is not "
         "counted); on a quiet machine drop both flags for wall time at torch's default thread count."
         if args.clock == "cpu" else
         "On a busy machine add `--threads 1 --clock cpu`: time lost to other processes is then not counted."),
        "",
        *table(rows),
        "",
        *summary(rows),
        "",
        "Columns: *floor* is `x.clone()` + `g * x`, the least memory traffic of any elementwise "
        "forward+backward. *saved B/elem* counts distinct tensors autograd keeps for backward, per input "
        "element (float32 input = 4 B). See the docstring of bench/bench_activations.py.",
    ]
    write_report(lines, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
