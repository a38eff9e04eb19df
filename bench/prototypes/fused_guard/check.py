"""Correctness of the fused kernels against the catalog's definitions (float64 formulas, rounded once).

Run: .venv/bin/python bench/prototypes/fused_guard/check.py [variant ...]
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fused import build, functions  # noqa: E402

from actlab.catalog.definitions import ELU, HARDSHRINK  # noqa: E402

inf, nan = math.inf, math.nan


def ulps(got, want):
    """Distance in float32 ulps of want (0 where both are the same NaN/inf or equal)."""
    got, want = got.double(), want.double()
    same = (got == want) | (got.isnan() & want.isnan())
    spacing = torch.finfo(torch.float32).eps * want.abs().clamp_min(torch.finfo(torch.float32).tiny)
    d = ((got - want).abs() / spacing).nan_to_num(nan=inf, posinf=inf)
    return torch.where(same, torch.zeros_like(d), d)


def check(variant):
    ext, _ = build(variant)
    Hs, Elu = functions(ext)
    fails = []
    cases = [("hardshrink", HARDSHRINK, Hs, {"lambd": 0.5}, 0.0, 0.0),
             ("elu", ELU, Elu, {"alpha": 1.0}, 2.0, 4.0),
             ("elu a=0.3", ELU, Elu, {"alpha": 0.3}, 3.0, 4.0)]
    g32 = torch.Generator().manual_seed(0)
    for name, spec, Fn, kw, tol_f, tol_b in cases:
        p = list(kw.values())[0]
        edge = torch.tensor([-inf, inf, nan, 0.0, -0.0, 0.5, -0.5, math.nextafter(0.5, 1), math.nextafter(-0.5, -1),
                             math.nextafter(0.5, 0), -1e-30, -1e-7, 1e-7, -20.0, -88.0, -104.0, 88.7, 3.0e38,
                             -3.0e38, 1e-45, -1e-45], dtype=torch.float32)
        rnd = torch.randn(2**20 + 13, generator=g32) * 4
        for label, x in (("edges", edge), ("random", torch.cat([rnd, edge]))):
            x = x.clone().requires_grad_(True)
            g = torch.randn(x.shape, generator=g32)
            y = Fn.apply(x, p)
            y.backward(g)
            want_y = spec.forward(x.detach().double(), **kw).float()
            want_g = (g.double() * spec.derivative(x.detach().double(), **kw)).float()
            ef, eb = ulps(y.detach(), want_y).max().item(), ulps(x.grad, want_g).max().item()
            ok = ef <= tol_f and eb <= tol_b
            print(f"  {variant:10s} {name:11s} {label:6s}: max ulps value {ef:.1f} (tol {tol_f}), "
                  f"grad {eb:.1f} (tol {tol_b}) {'ok' if ok else 'FAIL'}")
            if not ok:
                bad = (ulps(y.detach(), want_y) > tol_f) | (ulps(x.grad, want_g) > tol_b)
                i = bad.nonzero()[:5].flatten()
                print("    x", x.detach()[i].tolist(), "y", y.detach()[i].tolist(), "want", want_y[i].tolist(),
                      "grad", x.grad[i].tolist(), "want", want_g[i].tolist())
                fails.append((name, label))
            if label == "edges":
                print(f"    x    {x.detach().tolist()[:10]}\n    y    {y.detach().tolist()[:10]}\n"
                      f"    f'   {(x.grad / g).tolist()[:10]}")
        # NaN and +-inf: value and gradient at every length 1..70 and every position, against the definition.
        length_fail = 0
        for special in (nan, inf, -inf):
            for n in range(1, 71):
                for pos in range(n):
                    x = torch.full((n,), 0.25, dtype=torch.float32)  # inside hardshrink's band, negative branch-free
                    x[pos] = special
                    x.requires_grad_(True)
                    Fn.apply(x, p).sum().backward()
                    want = spec.derivative(x.detach().double(), **kw).float()
                    if not bool(torch.isclose(x.grad, want, equal_nan=True).all()):
                        length_fail += 1
        print(f"  {variant:10s} {name:11s} NaN/+-inf at every length 1..70 and position: "
              f"{'ok' if length_fail == 0 else f'{length_fail} FAIL'}")
        if length_fail:
            fails.append((name, "lengths"))
        # threads: the same bits with 1 and 2 threads.
        x = (torch.randn(2**21, generator=g32) * 4).requires_grad_(True)
        outs = []
        for t in (1, 2):
            torch.set_num_threads(t)
            x.grad = None
            y = Fn.apply(x, p)
            y.backward(torch.ones_like(y))
            outs.append((y.detach().clone(), x.grad.clone()))
        same = torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
        print(f"  {variant:10s} {name:11s} 1 vs 2 threads bit-identical: {same}")
        if not same:
            fails.append((name, "threads"))
    # The native ops' length quirk, for comparison (what the guard exists for).
    quirk = {}
    for name, fn in (("hardshrink", lambda t: torch.nn.functional.hardshrink(t, 0.5)),
                     ("elu", lambda t: torch.nn.functional.elu(t, 1.0))):
        grads = {}
        for n in (1, 16, 17, 67):
            x = torch.full((n,), nan).requires_grad_(True)
            fn(x).sum().backward()
            grads[n] = sorted({"nan" if math.isnan(v) else v for v in x.grad.tolist()}, key=str)
        quirk[name] = grads
    print(f"  native NaN gradients (all-NaN input) by length, distinct values: {quirk}")
    return fails


if __name__ == "__main__":
    allfails = {}
    for v in sys.argv[1:] or ["avx512"]:
        allfails[v] = check(v)
    print("FAILURES:", allfails)
