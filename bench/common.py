"""Timing helpers shared by the benchmarks under bench/.

The interleaved timer itself lives in the package (``actlab.catalog.cost``),
because ``actlab list`` measures relative costs at run time; it is re-exported
here so benchmarks and the package time things the same way.

Conventions for every benchmark: warm up first, interleave the candidates
(round-robin, rotated each round) so background load hits them alike, report
medians of at least 5 rounds, and print the machine line with the results.
"""
from __future__ import annotations

import datetime
import os
import platform
import shlex
import statistics
import sys

import torch

from actlab.catalog.cost import interleaved_times, medians, num_threads
from actlab.compare.outputs import cpu_model

__all__ = ["command_line", "cpu_model", "fmt", "interleaved_times", "machine_info", "machine_line",
           "matmul_gflops", "median_time", "medians", "num_threads", "today", "torch_module", "write_report"]


def torch_module(name: str):
    """PyTorch's own module (``torch.nn.ELU()``, ...) with the same definition as the catalog's ``name`` at both
    sides' defaults, in eval mode; None where PyTorch has none (or none without arguments: nn.Threshold)."""
    from torch import nn

    from actlab.catalog.torch_map import _PYTORCH

    for cls, entries in _PYTORCH.items():
        for entry, params in entries:
            if entry == name and (not params or name == "gelu"):
                if cls in (nn.Softmax, nn.Softmin, nn.LogSoftmax):
                    return cls(dim=-1).eval()  # without a dim they warn on every call (the catalog's is -1)
                try:
                    return cls().eval()
                except TypeError:
                    return None
    return None


def fmt(v, digits=2, suffix=""):
    """A table cell: v to ``digits`` decimals (and ``suffix``), or "-" for None."""
    return "-" if v is None else f"{v:.{digits}f}{suffix}"


def write_report(lines: list[str], markdown: str | None) -> None:
    """Print a benchmark's report (its lines) and, with a path, write it there as Markdown."""
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if markdown:
        os.makedirs(os.path.dirname(os.path.abspath(markdown)), exist_ok=True)
        with open(markdown, "w") as f:
            f.write(text)


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` discarded calls."""
    return statistics.median(interleaved_times({"fn": fn}, repeats=repeats, warmup=warmup)["fn"])


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Achieved GFLOP/s of an n x n float32 matmul (2 n^3 flops) at the current thread count.

    A yardstick for how fast (and how busy) the machine was: compare it
    between runs before comparing any other number.
    """
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen)
    b = torch.randn(n, n, generator=gen)
    seconds = median_time(lambda: torch.mm(a, b), repeats=repeats, warmup=1)
    return 2 * n ** 3 / seconds / 1e9


def machine_info() -> dict:
    """CPU model, logical cores, torch threads, torch and Python versions, matmul GFLOP/s."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "matmul_gflops": matmul_gflops(),
    }


def machine_line(info: dict) -> str:
    return (f"{info['cpu']}, {info['cores']} logical cores, torch {info['torch']} with "
            f"{info['threads']} thread(s), Python {info['python']}; "
            f"2048x2048 float32 matmul: {info['matmul_gflops']:.1f} GFLOP/s")


def today() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M")


# Settings in the environment that change what a benchmark measures: a rerun needs them too.
RESULT_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "ACTLAB_FUSED", "ACTLAB_FUSED_STREAM",
              "ACTLAB_FUSED_AVX512BF16", "ACTLAB_FUSED_PYTHON")


def command_line() -> str:
    """How this script was started, as a command to paste (interpreter path relative when possible),
    preceded by the settings of :data:`RESULT_ENV` that were set."""
    exe = sys.executable
    try:
        rel = os.path.relpath(exe)
        exe = rel if not rel.startswith("..") else exe
    except ValueError:
        pass  # different drive on Windows: keep the absolute path
    env = [f"{k}={shlex.quote(os.environ[k])}" for k in RESULT_ENV if k in os.environ]
    return " ".join([*env, *(shlex.quote(a) for a in [exe, *sys.argv])])
