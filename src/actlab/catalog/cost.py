"""What an activation costs: forward+backward time relative to ReLU, and saved-tensor memory.

Times are taken *interleaved*: every round runs every activation once, in a
rotated order, and the median over rounds is kept. Background load on a shared
machine then slows all candidates alike instead of whichever happened to run
during a burst, so the ratios stay meaningful even when absolute times do not.

They are taken on one thread by default, with that thread's CPU time as the
clock, so time the process spends descheduled is not counted. Relative costs of elementwise ops
hardly depend on the thread count, while a multi-threaded kernel on a busy
machine stalls whenever one of its threads is descheduled, which made ratios
swing by 20x in our measurements on a shared 2-core machine.

Relative costs are cached per (actlab version, torch version, thread count,
tensor size, dtype) in ``$XDG_CACHE_HOME/actlab`` (default ``~/.cache/actlab``) because
``actlab list`` shows them on every call and measuring takes a few seconds.
"""
from __future__ import annotations

import json
import os
import random
import statistics
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional

import torch

from .._version import __version__
from .module import saved_tensors
from .registry import DEFINITIONS, get, label, names as all_names, parse

BASELINE = "relu"
VECTOR_ROW = 10  # vector activations (softmax) are timed on rows of this length
_CACHE_VERSION = 1


def interleaved_times(fns: Mapping[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                      clock: Callable[[], float] = time.perf_counter, shuffle: bool = False,
                      warm: bool = False, before: Optional[Callable[[], object]] = None) -> dict[str, list[float]]:
    """Seconds per call of each function, measured round-robin.

    Each of the ``warmup + repeats`` rounds calls every function once; round r
    starts at position r of the list so that no function always runs first
    (right after the previous round's slowest, or after a cache flush).
    With ``shuffle`` each round's order is a fresh permutation instead (seeded,
    so reruns repeat it): a rotation keeps every function behind the same
    predecessor, whose freed buffers and dirty cache lines can bias a fast
    op's time by 10% or more. Warmup rounds are discarded. ``clock`` is wall
    time by default; pass ``time.thread_time`` to count only this thread's CPU
    time (see :func:`clock_for`). With ``warm`` every timed call follows an
    untimed call of the same function, so its data and code are in cache
    whatever ran before it: the steady cost of calling it again and again,
    for tensors that fit in cache (without it, a predecessor that sweeps the
    cache makes the next call pay for main memory and for the interpreter's
    own data). ``before``, if given, is called untimed right before every
    timed call (after the warm one): a sweep of the caches, say, to time
    calls that start cold. Returns ``{key: [seconds, ...]}``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1 (got {repeats})")
    keys = list(fns)
    out: dict[str, list[float]] = {k: [] for k in keys}
    order = random.Random(0)
    for r in range(warmup + repeats):
        shift = r % len(keys) if keys else 0
        for k in (order.sample(keys, len(keys)) if shuffle else keys[shift:] + keys[:shift]):
            if warm:
                fns[k]()
            if before is not None:
                before()
            start = clock()
            fns[k]()
            elapsed = clock() - start
            if r >= warmup:
                out[k].append(elapsed)
    return out


def clock_for(threads: int) -> Callable[[], float]:
    """The steadiest clock for ``threads`` torch threads.

    On one thread every kernel runs in the calling thread, so its CPU time
    (``time.thread_time``) is the work done and nothing else: time spent
    descheduled by other processes is not counted. With more threads the
    work is spread over OpenMP workers, so only wall time is meaningful.
    """
    return time.thread_time if threads == 1 else time.perf_counter


def medians(times: Mapping[str, list[float]]) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in times.items()}


def saved_bytes_per_element(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """Bytes kept alive for backward by ``fn(x)``, per element of ``x``."""
    total = sum(t.untyped_storage().nbytes() for t in saved_tensors(fn, x))
    return total / x.numel()


def input_for(spec_string: str, numel: int, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    """A standard-normal input of about ``numel`` elements, shaped for this activation.

    Vector activations get rows of ``VECTOR_ROW``; the others a flat tensor.
    """
    gen = torch.Generator().manual_seed(seed)
    if DEFINITIONS[parse(spec_string)[0]].vector:
        shape: tuple[int, ...] = (max(1, numel // VECTOR_ROW), VECTOR_ROW)
    else:
        shape = (numel,)
    return torch.randn(shape, generator=gen, dtype=dtype)


def forward_backward(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     params: Iterable[torch.Tensor] = ()) -> Callable[[], None]:
    """A no-argument step running ``fn(x)`` forward and backward once; grads are dropped each time."""
    x = x.detach().requires_grad_(True)
    with torch.no_grad():  # shaped like the output: a gated unit (GLU) halves its input
        shape = fn(x).shape
    grad = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    params = list(params)

    def step():
        fn(x).backward(grad)
        x.grad = None
        for p in params:
            p.grad = None

    return step


@contextmanager
def num_threads(n: Optional[int]):
    """Run the block with ``torch.set_num_threads(n)`` (None: leave as is), then restore."""
    before = torch.get_num_threads()
    if n is not None:
        if n < 1:
            raise ValueError(f"thread count must be at least 1 (got {n})")
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "actlab"


def _cache_file(numel: int, dtype, threads: int) -> Path:
    dt = str(dtype).replace("torch.", "")
    key = f"cost-v{_CACHE_VERSION}-actlab{__version__}-torch{torch.__version__}-threads{threads}-n{numel}-{dt}"
    return cache_dir() / (key.replace("+", "_") + ".json")


def _read_cache(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent or unreadable: measure again
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and v > 0}


def _write_cache(path: Path, values: dict[str, float]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(values, indent=1, sort_keys=True))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the new file
    except OSError as e:
        warnings.warn(f"could not cache activation costs in {path} ({e}); they will be measured again "
                      "next time. Set XDG_CACHE_HOME to a writable folder to keep them.", stacklevel=3)


def measure(labels: list[str], numel: int, repeats: int, dtype) -> dict[str, float]:
    """Median forward+backward seconds per element of each module, ReLU included."""
    steps = {}
    sizes = {}
    for lab in dict.fromkeys([BASELINE, *labels]):
        module = get(lab).eval()  # stochastic ones (RReLU) in their deterministic mode
        x = input_for(lab, numel, dtype)
        sizes[lab] = x.numel()
        steps[lab] = forward_backward(module, x, module.parameters())
    med = medians(interleaved_times(steps, repeats=repeats, warmup=1, clock=clock_for(torch.get_num_threads())))
    return {lab: med[lab] / sizes[lab] for lab in steps}


def relative_cost(names: Optional[Iterable[str]] = None, numel: int = 2 ** 20, repeats: int = 5,
                  dtype=torch.float32, refresh: bool = False, threads: Optional[int] = 1) -> dict[str, float]:
    """Forward+backward time per element of each activation module, relative to ReLU's.

    ``names`` are activation names or spec strings (``"elu:alpha=0.2"``);
    default every activation. Keys of the result are canonical labels
    (``actlab.label``), so ``relu`` maps to exactly 1.0. Values come from the
    cache when present; ``refresh=True`` measures again and overwrites them.
    ``threads`` is the torch thread count to measure with (None: the current
    one); see the module docstring for why the default is 1. On one thread
    the clock is this thread's CPU time, so other processes do not distort it.
    """
    if numel < VECTOR_ROW:
        raise ValueError(f"numel must be at least {VECTOR_ROW} (got {numel}); costs of tiny tensors "
                         "measure Python overhead, not the activation")
    if isinstance(names, str):
        names = [names]
    labels = list(dict.fromkeys(label(n) for n in (all_names() if names is None else names)))
    path = _cache_file(numel, dtype, torch.get_num_threads() if threads is None else threads)
    cached = _read_cache(path)  # other names' values stay cached even when these are refreshed
    missing = labels if refresh else [lab for lab in labels if lab not in cached]
    if missing:
        with num_threads(threads):
            per_element = measure(missing, numel, repeats, dtype)
        base = per_element[BASELINE]
        cached.update({lab: t / base for lab, t in per_element.items()})
        _write_cache(path, cached)
    return {lab: cached[lab] for lab in labels}
