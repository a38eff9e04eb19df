"""Run every benchmark under bench/ and assemble BENCHMARKS.md from their results.

    .venv/bin/python bench/run_all.py              # all of them (about 40 minutes on a 2-core machine; training alone ~25)
    .venv/bin/python bench/run_all.py --only diagnose training
    .venv/bin/python bench/run_all.py --assemble   # only rebuild BENCHMARKS.md from bench/results/*.md

Each benchmark writes its own Markdown file in bench/results/ (with the command
that reproduces it); this script runs them one after another, never side by
side, so that they do not disturb each other's timings.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent

# The activations whose module guards PyTorch's op for exact limits (Activation.native_range).
GUARDED = ("gelu", "gelu_tanh", "silu", "mish", "hardswish", "elu", "celu", "selu", "hardtanh", "relu6",
           "softshrink", "hardshrink")

# name -> (command, result file); order = order in BENCHMARKS.md
BENCHMARKS = {
    "activations": ([sys.executable, "bench/bench_activations.py", "--repeats", "11", "--markdown",
                     "bench/results/activations.md"],
                    "activations.md"),
    "training": ([sys.executable, "bench/bench_training.py", "--repeats", "5", "--step", "5",
                  "--markdown", "bench/results/training.md"],
                 "training.md"),
    "diagnose": ([sys.executable, "bench/bench_diagnose.py", "--rounds", "15"], "diagnose.md"),
    "verdict": ([sys.executable, "bench/bench_verdict.py", "--out", "bench/results/verdict.md"], "verdict.md"),
    "guard": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats", "81",
               "--only", *GUARDED, "relu", "--markdown", "bench/results/guard.md"], "guard.md"),
    "guard-bf16": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats",
                    "21", "--dtype", "bfloat16", "--only", *GUARDED, "relu", "--markdown", "bench/results/guard-bf16.md"],
                   "guard-bf16.md"),
    "guard-cache": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats",
                     "201", "--numel", "262144", "--warm", "--only", *GUARDED, "relu", "--markdown",
                     "bench/results/guard-cache.md"], "guard-cache.md"),
    "guard-cold": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats",
                    "201", "--numel", "262144", "--cold", "--only", *GUARDED, "relu", "--markdown",
                    "bench/results/guard-cold.md"], "guard-cold.md"),
    "guard-wide": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats",
                    "41", "--scale", "3", "--only", "gelu", "gelu_tanh", "silu", "elu", "relu", "--markdown",
                    "bench/results/guard-wide.md"], "guard-wide.md"),
    "guard-f64": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats",
                   "41", "--numel", "2097152", "--dtype", "float64", "--only", *GUARDED, "relu", "--markdown",
                   "bench/results/guard-f64.md"], "guard-f64.md"),
    "guard-f16": ([sys.executable, "bench/bench_activations.py", "--threads", "1", "--clock", "cpu", "--repeats",
                   "21", "--dtype", "float16", "--only", *GUARDED, "relu", "--markdown", "bench/results/guard-f16.md"],
                  "guard-f16.md"),
    "overhead": ([sys.executable, "bench/bench_overhead.py", "--markdown", "bench/results/overhead.md"],
                 "overhead.md"),
    "guard-avx2": (["env", "ATEN_CPU_CAPABILITY=avx2", "ONEDNN_MAX_CPU_ISA=AVX2", sys.executable, "bench/bench_activations.py", "--threads", "1",
                    "--clock", "cpu", "--repeats", "41", "--build-kernels", "--only", *GUARDED, "relu",
                    "--markdown", "bench/results/guard-avx2.md"], "guard-avx2.md"),
    "charlm": ([sys.executable, "bench/bench_charlm.py", "--rounds", "5", "--steps", "15", "--threads", "1"],
               "charlm.md"),
    "checkpoint": ([sys.executable, "bench/bench_checkpoint.py", "--datasets", "mnist", "--models", "cnn,mlp16",
                    "--rounds-full", "3", "--epochs-full", "1"], "checkpoint.md"),
    "race": ([sys.executable, "bench/bench_race.py", "--train-limit", "3000", "--epochs", "2", "--max-seeds", "5",
              "--tolerance", "1"],
             "race.md"),
    # needs a complete fixed-protocol folder first (about 70 min on 2 cores): actlab compare --dataset mnist
    # --data-dir ../shared/data/mnist --epochs 2 --seeds 10 --workers 2 --out runs/full10
    "race-replay": ([sys.executable, "bench/bench_race_replay.py", "runs/full10", "--max-seeds", "10", "--workers",
                     "2", "--out", "bench/results/race-replay.md"], "race-replay.md"),
}

TITLES = {
    "activations": "Activations: forward+backward time and saved memory (issue: catalog)",
    "training": "Training throughput: compare engine vs a typical PyTorch loop (issue: compare)",
    "diagnose": "Overhead of actlab.diagnose (issue: gradients)",
    "verdict": "Time to a verdict: backends and early stopping (issue: scale-out)",
    "guard": "Exact limits on every CPU: the cost of actlab's fused kernels and of the guard (issue: catalog, complete)",
    "guard-bf16": "Exact limits in bfloat16: the fused kernels against PyTorch's bfloat16 ops (issue: catalog, complete)",
    "guard-cache": "Exact limits on tensors that fit in cache (1 MiB float32): the kernels' arithmetic and each call's fixed cost (issue: catalog, complete)",
    "guard-cold": "Exact limits on a 1 MiB tensor that starts out of cache, as after a large layer: each call's cost cold (issue: catalog, complete)",
    "guard-wide": "Exact limits on a wider input (standard deviation 3): GELU's tail formula (issue: catalog, complete)",
    "guard-f64": "Exact limits in float64: the fused kernels against PyTorch's float64 ops (issue: catalog, complete)",
    "guard-f16": "Exact limits in float16: the fused kernels against PyTorch's float16 ops (issue: catalog, complete)",
    "overhead": "Per-call cost on small tensors: actlab's modules and functions against PyTorch's own (issue: catalog, complete)",
    "guard-avx2": "Exact limits on the AVX2 build: the fused kernels against PyTorch's AVX2 kernels (issue: catalog, complete)",
    "charlm": "char-lm: tokens per second against a plain nanoGPT-style loop (issue: tasks)",
    "checkpoint": "Per-epoch checkpoints: their cost as a share of an epoch (issue: study core)",
    "race": "Racing: time to a verdict against the fixed protocol (issue: verdicts)",
    "race-replay": "Racing rules on the full-MNIST seed study, replayed on all 60 runs (issue: verdicts)",
}

# Read-me-first notes placed above a section's generated text.
NOTES = {
    "verdict": (
        "Measured before 2026-11-29, when `--early-stop asha` meant asynchronous ASHA; it now means "
        "synchronous successive halving (the asynchronous rule is `asha:async`). The early-stopping rows "
        "describe the asynchronous rule until this benchmark is rerun."),
    "activations": (
        "The whole catalog at 16 MiB, rerun 2026-11-30 19:52 on a quiet machine (matmul 183 GFLOP/s, two "
        "threads, wall time, 11 rounds since that evening, 5 before); the twelve exact-limit ops are "
        "measured more closely, one thread and 81 rounds, in their own section below. How to read the *actlab / native* column: every activation "
        "whose *actlab path* is `native` calls exactly the PyTorch op it is compared with "
        "(`actlab.get(name).path`), so its true ratio is 1.00 and what the column shows beyond that is noise "
        "(with five rounds ReLU read 1.20, quartiles 0.77-1.26, at 18:55; here 0.99 and 1.00). Path "
        "`fused` is actlab's own kernel. Rows with path `analytic` run the definition's formula as PyTorch "
        "ops, one pass each (softplus, exact, 2.54 ns/elem against 1.16 for PyTorch's one-op softplus cut at "
        "20). Since 2026-11-30 evening the formulas avoid torch.where and comparisons wherever a branch-free "
        "form is exact (PyTorch's bool kernels are not vectorised on the CPU: squareplus, sparse plus and "
        "sigmoid, Hard Mish, Leaky ReLU6, ELiSH, Hard ELiSH, ISRU and ISRLU); in this table squareplus reads "
        "7.33 ns/elem against 10.82 in the run of 16:50 (the table before this one), ISRU 7.21 "
        "against 16.07, ELiSH 9.82 against 13.99. The sparse sigmoid's and Leaky ReLU6's formulas are now "
        "sums of clamps, which plain autograd differentiates fast (*composite / analytic* 0.72 and 1.18) "
        "but with clamp's gradients at the kinks, not the catalog's convention, so the module keeps the "
        "analytic Function (module.composite_agrees_at_kinks). The module and the ops it is held to are timed "
        "in their own interleaved group, apart from the candidates that only explain it. Every exact-limit "
        "op is within 5% in training and in inference; Hard-Swish's forward without backward runs 256-bit "
        "vectors on the AVX-512 build since 19:45 (see guard), and reads 1.00 here (1.26 at 19:33)."),
    "guard": (
        "The twelve ops run actlab's fused CPU kernels (src/actlab/catalog/fused.cpp, built by `make`): one "
        "pass forward and one backward with the exact limits inside the formula (path `fused`). *actlab / "
        "native* is their cost in training; the lines below give it with quartiles over the rounds, in "
        "inference, and for the Python guard that still runs where the kernels are not built. Rounds run in a "
        "shuffled order with the training allocator; ReLU's row (the module calls exactly PyTorch's op) is the "
        "noise of the measure. What makes them fast (2026-11-30): e^x computed inline (Sleef's exp is a "
        "function call per vector; since the afternoon with a polynomial one degree lower, "
        "tools/fit_exp_f32.py), Mish from one exponential, GELU's Phi from one exponential and a rational fit "
        "to Mills' ratio on every lane (tools/fit_gauss_mills.py; no 1 + erf to cancel, and a cost that does "
        "not depend on the input's spread: guard-wide), the vector "
        "loops and the ops' lambdas always inlined (out of line they reloaded every constant after each store), "
        "two vectors loaded and computed before either is stored (the output may alias the input, so the "
        "compiler could not overlap a vector's arithmetic with the previous one's store: GELU 0.78 -> 0.71), "
        "the kernels' own autograd node, and streaming stores for outputs past 3/4 of a CPU's share of the "
        "last-level cache (12 MiB here; glibc's memcpy rule), which skip reading each output line before "
        "writing it. Before them (2026-11-30 morning): SiLU 1.06-1.09x, Hard-Swish 1.09-1.11x, Mish 1.01x, the "
        "clips and shrinks 1.01-1.04x. Without streaming stores (this section's command with "
        "`ACTLAB_FUSED_STREAM=never`, one run the same day, before the last two changes): hardtanh 1.05, "
        "hardshrink 1.08, Hard-Swish 1.04, ReLU6 1.00, softshrink 0.98. GELU read 0.71 in training and 0.68 "
        "in inference with the former rational erf (the same day, 11:58), which cost 1.23 and 1.56 on a wider "
        "input; with Phi from one exponential on every lane, 1.08 in inference until the changes to e^x and "
        "the division (0.79 and 0.98 in that afternoon's run). Since 2026-11-30 evening the kernels are called "
        "through fused.cpp's Python binding rather than torch.ops, from one call that also makes the module's "
        "checks (`Kernel.fast`), which at 16 MiB is noise, and the module and the ops it is held to are timed "
        "in their own interleaved group, apart from the composite, analytic and guard candidates that only "
        "explain it. The run with both (2026-11-30 18:47) had every op within 5% in training and in inference. "
        "Since 18:58 a forward pass's output is written with ordinary stores where no backward is recorded "
        "(fused.cpp, `forward_may_stream`): in inference GELU 0.96 -> 0.84, SiLU 0.95 -> 0.72, GELU-tanh 0.31 "
        "-> 0.23 against 18:47, but Hard-Swish 1.02 -> 1.14 (1.26 at two threads in the activations run). "
        "Probes then found PyTorch's hardswish forward faster than its own x * 2, unlike its clamp, neg and "
        "relu, and our AVX2 build of the kernel faster than our AVX-512 build, unlike hardtanh's (PyTorch "
        "registers AVX-512 code for few CPU kernels). So since 19:45 Hard-Swish's forward with ordinary "
        "stores runs 256-bit vectors on the AVX-512 build (float32 and float64; the same values). This run "
        "(19:50, matmul at about half its quiet 172 GFLOP/s): every op within 5% in training and in "
        "inference (Hard-Swish 1.01; the activations run at two threads 1.00, float64 1.01)."),
    "guard-bf16": (
        "The same benchmark on bfloat16 tensors (`--dtype bfloat16`). The kernels load the half types two "
        "float32 vectors at a time, compute in float32 and round once on the store; on a CPU with AVX512-BF16 "
        "(this one) the rounding is one VCVTNE2PS2BF16 instead of ATen's dozen instructions (vectors with a "
        "subnormal lane excepted: the instruction flushes them). GELU's half types take Phi and GELU' from 32 "
        "degree-4 pieces (tools/fit_gelu_pieces.py) instead of a rational erf and an exp, correctly rounded for "
        "every finite bfloat16 and float16 input. Every op within 5% of PyTorch's bfloat16 op in training, "
        "most faster (GELU 0.53 in this run, 2026-11-30 19:02; it read 1.36 before these changes, that "
        "morning). In inference every op within 5% (ReLU6 1.01; 1.09 and 1.05 in earlier runs that day), "
        "against ReLU's own 1.03."),
    "guard-wide": (
        "The float32 benchmark on a wider input, normal with standard deviation 3 (`--scale 3`), for the ops "
        "whose kernel might depend on the input. GELU's did until 2026-11-30 afternoon: below x = -3 it "
        "computed Phi from Mills' ratio (one exponential) for every vector with such a lane, besides its "
        "rational erf, and here, where most vectors have such a lane, it read 1.23x in training and 1.56x "
        "forward only (11:58 the same day). Now every lane takes Phi from one exponential and a rational "
        "function, so the cost no longer depends on the spread: 0.75 in training and 0.78 in inference here "
        "(2026-11-30 19:05), 0.78 and 0.84 at standard deviation 1 (guard). PyTorch's float32 GELU returns 0 from x = -12.8 on, where the kernel keeps the "
        "value's relative precision. GELU-tanh, SiLU and ELU do not depend on the input's spread."),
    "guard-f16": (
        "The same on float16 tensors: every op within 5% in training, most faster; GELU at 0.40 with the half "
        "types' pieces (0.73 before, with the float32 formula). In inference every op within 5% too (ReLU6, "
        "softshrink and hardshrink 1.04; 2026-11-30 19:03)."),
    "guard-f64": (
        "The same on float64 tensors, 2**21 of them (16 MiB). e^x in float64 is inline too (a Chebyshev fit "
        "at 50 digits, within 1 ulp of mpmath). Every op within 5% in training (GELU, with ATen's float64 erf, "
        "1.02 in the run of 2026-11-30 19:54); in inference every op within it too (Hard-Swish 1.01 with the "
        "256-bit forward loop, 1.12 before it at 19:05; see guard)."),
    "guard-cache": (
        "The same at 2**18 float32 elements (1 MiB), which fit in cache, with `--warm`: each timed call follows "
        "an untimed call of the same step, so x, its gradient and the code are in cache, and what shows is the "
        "kernels' arithmetic and each call's fixed cost. The module and the ops it is held to are timed in one "
        "interleaved group, the candidates that only explain it (composite, analytic Function, guard) in "
        "another. Until 2026-11-30 evening all ran in one group without `--warm`, and the composite candidate, "
        "several ms a call at this size (PyTorch's where and comparisons are not vectorised), swept the caches "
        "between the others: most calls then ran with x in main memory and the interpreter's data cold, and "
        "the clips and shrinks read 1.07-1.23x in training and 1.21-1.31x in inference with quartiles of "
        "0.85-1.4 (that evening's runs). Calls that start cold have their own section now (guard-cold). Here "
        "the ops with an exponential are at or below PyTorch's in training (GELU 0.73, SiLU 0.68, Mish 0.11, "
        "the ELUs 0.90-0.91), the clips and shrinks at 0.96-1.07 (hardshrink 1.07, quartiles 1.03-1.10), "
        "where ReLU's own module, which calls exactly PyTorch's op, reads 1.04 (1.00-1.08): at about 100 us a "
        "step, what remains over the bare op is a module call's Python, which PyTorch's own modules pay too "
        "(against them: at most 1.04). In inference 1.00-1.06, where ReLU's module reads 1.08 (2026-11-30 "
        "19:55)."),
    "guard-cold": (
        "The same 1 MiB tensors with `--cold`: before each timed call an untimed write of 64 MiB (twice this "
        "machine's last-level cache) evicts x, its gradient and the interpreter's and torch's data, as a large "
        "layer between two activations does. A step then costs two to three times its warm time, and a call's "
        "Python weighs more than warm: ReLU's module, which calls exactly PyTorch's op, reads 1.06 in training "
        "and 1.13 in inference (2026-11-30 19:59). A kernel module's checks (a plain tensor of a kernel dtype "
        "on the CPU, no transform, the dtype's route) were a dozen Python attribute reads, each microseconds "
        "when cold; since 2026-11-30 evening they are one call into fused.cpp (`Kernel.fast`). Here the "
        "clips, shrinks and Hard-Swish read 0.99-1.10 in training and 1.09-1.15 in inference, the other kernels at most 0.99 and 1.07; against PyTorch's own modules every kernel is at "
        "most 1.07 in training and 1.08 in inference."),
    "overhead": (
        "What a call costs on a small tensor, where Python and dispatch are most of it. *before* is the same "
        "module as it ran until 2026-11-30: the analytic path through `autograd.Function.apply`, which binds "
        "its arguments with `inspect.signature` on every call when the Function defines `setup_context` (about "
        "20 us), and the fused kernels through `torch.ops` (the dispatcher parses a schema's arguments into a "
        "boxed stack, about 1 us). Now the analytic path runs the same Function written the older way (or, "
        "under no_grad, the formula alone) outside torch.compile and torch.func, and the kernels are called "
        "through fused.cpp's Python binding, since 2026-11-30 evening from one call (`Kernel.fast`) that makes "
        "the module's checks in C++. In inference the clips and shrinks run PyTorch's op (the run-time probe "
        "finds it exact forward), called from that same one call; *before* runs the module's Python path "
        "there. The other native-path modules (ReLU, sigmoid, softmax, ...) still make a few Python checks "
        "before the op: 1.1-1.3x PyTorch's module in inference at this size. PyTorch's softplus is one op cut to "
        "the identity above 20; actlab's default is the exact value, a formula of several ops."),
    "guard-avx2": (
        "The float32 benchmark with this process's kernels at AVX2 width, the width of most laptops: "
        "`ATEN_CPU_CAPABILITY=avx2` (PyTorch's own ATen kernels run their AVX2 versions, and actlab builds and "
        "loads its AVX2 library) and `ONEDNN_MAX_CPU_ISA=AVX2` (PyTorch's float32 GELU runs oneDNN, which "
        "otherwise uses AVX-512 whatever ATen's capability says; this section's command without it, the same "
        "day, read GELU 1.27 in inference, AVX2 against AVX-512 code). Every op within 5% "
        "in training and, in the run of 2026-11-30 19:07, in inference (at most 1.02, hardshrink; ReLU's own "
        "1.09; GELU 1.04 and softshrink 1.06 in the run before). Before the loops computed two vectors before storing (2026-11-30, this section's "
        "command, one run): SiLU read 1.17 in training and 1.28 in inference, GELU 1.25; on AVX2 a vector is half "
        "a cache line, and a streaming store's line written one computation apart made SiLU's streamed forward "
        "far slower than its plain one."),
    "race": (
        "Measured 2026-11-30 00:33 under the racing rule of that time (Pocock spending, Bonferroni over the "
        "pairs at every look, no futility stopping). The same runs under today's default (Pocock spending, "
        "Holm across looks, futility 0.1) and the alternatives: bench/results/race-replay-subset.md "
        "(`bench/bench_race_replay.py /tmp/bench-race-tol --max-seeds 5`): the default uses 26 of 30 runs (87%) "
        "and decides 11 of the fixed protocol's 13 separated pairs; with `--spending peto` 28 runs (93%) and "
        "all 13."),
    "race-replay": (
        "CPU training is deterministic, so the race `actlab compare --until-decided` runs is exactly the "
        "race `actlab.compare.race.replay` computes on a folder that holds every seed: the runs each rule "
        "uses are the runs it would train. The folder: the README's full-MNIST race (4 seeds) completed to 10 "
        "seeds, 60 runs, 2 epochs each, trained 2026-11-30 in 69 min of wall time on the shared 2-core machine."),
}

INTRO = """# Benchmarks

Every speed claim in actlab's README comes from one of the benchmarks below.
Each section was written by its script, on the machine and date it states,
with the command that reproduces it. Run them all, one after another, with

    .venv/bin/python bench/run_all.py        # or: make bench

The machines these run on are shared: each script interleaves the variants it
compares (A, B, A, B, ...) and reports medians and ratios measured side by
side in one run, and states the 2048x2048 float32 matmul rate of the moment
as a yardstick of how fast (and how busy) the machine was.
"""


def run(name: str) -> None:
    command, result = BENCHMARKS[name]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    proc = subprocess.run(command, cwd=ROOT, text=True, capture_output=name == "diagnose")
    if proc.returncode != 0:
        raise SystemExit(f"benchmark {name} failed with exit status {proc.returncode}")
    if name == "diagnose":  # this script prints its report; keep it verbatim
        (RESULTS / result).write_text(
            "Rerun: `.venv/bin/python bench/bench_diagnose.py --rounds 15` "
            "(add `--activation gelu` for a non-ReLU activation).\n\n```\n" + proc.stdout.strip() + "\n```\n")


def _demote(text: str) -> str:
    """A result file under a section of its own: drop its title, push its headings one level down.

    Lines inside code fences are output, not headings, and stay as they are.
    """
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out, fenced = [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" + line if line.startswith("#") and not fenced else line)
    return "\n".join(out).strip()


def assemble() -> Path:
    parts = [INTRO]
    for name, (_, result) in BENCHMARKS.items():
        path = RESULTS / result
        if not path.exists():
            parts.append(f"## {TITLES[name]}\n\nNot run yet: `.venv/bin/python bench/run_all.py --only {name}`.\n")
            continue
        note = f"{NOTES[name]}\n\n" if name in NOTES else ""
        parts.append(f"## {TITLES[name]}\n\n{note}{_demote(path.read_text())}\n")
    out = ROOT / "BENCHMARKS.md"
    out.write_text("\n".join(parts))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="run only these benchmarks")
    ap.add_argument("--assemble", action="store_true", help="do not run anything; rebuild BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not args.assemble:
        for name in args.only or BENCHMARKS:
            run(name)
    print(f"wrote {assemble()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
