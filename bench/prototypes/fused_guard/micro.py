"""Backward and forward alone, 1 thread, 2^22: where the AVX-512 hardshrink loses time."""
import os
import statistics
import sys
import time

import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fused import build
torch.set_num_threads(1)
exts = {v: build(v)[0] for v in sys.argv[1:]}
for lg in (20, 22):
    n = 2**lg
    x = torch.randn(n) * 2; g = torch.randn(n)
    fns = {"native bwd": lambda: torch.ops.aten.hardshrink_backward(g, x, 0.5),
           "native fwd": lambda: torch.ops.aten.hardshrink(x, 0.5)}
    for v, e in exts.items():
        fns[f"{v} bwd"] = lambda e=e: e.hardshrink_backward(g, x, 0.5)
        fns[f"{v} fwd"] = lambda e=e: e.hardshrink_forward(x, 0.5)
    t = {k: [] for k in fns}
    k = 2**24 // n
    for r in range(25):
        for name, f in fns.items():
            c0 = time.thread_time()
            for _ in range(k): f()
            t[name].append((time.thread_time() - c0) / k / n * 1e9)
    for name in fns:
        print(f"2^{lg} {name:18s} {statistics.median(t[name]):.3f} ns/el (thread CPU)")
