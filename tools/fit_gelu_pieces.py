"""Fit the piecewise polynomials of GELU's half-precision kernel (catalog/fused.cpp, kGeluPieces).

    .venv/bin/python tools/fit_gelu_pieces.py      # prints the C++ table and each function's error

For bfloat16 and float16 tensors the kernel computes in float32 and rounds once to the
storage type (2^-8 and 2^-11 relative spacing). There Phi(x) and GELU'(x) = Phi(x) +
x phi(x) come from 32 polynomials of degree 4 instead of a rational erf and an exp:
x in [-3, 5) is split into intervals of 1/4, u = 4x + 12, i = floor(u), r = u - i - 1/2
in [-1/2, 1/2), and each interval has its own coefficients, picked per lane by a
permutation (two 16-float registers per coefficient). Below -3 the kernel keeps its
left-tail formula; above 5 the last interval's value at r = 1/2 stands (Phi(5) = 1 -
2.9e-7, GELU'(5) = 1 + 7e-6: far below half a float16 ulp of 1).

Each interval: least squares on 400 Chebyshev nodes, reweighted towards minimax
(Lawson's algorithm), relative error for Phi, relative error for GELU' with a floor of
1e-2 (absolute near its zero at x = -0.75); reference values from scipy's ndtr. The
check below evaluates the float32 coefficients the way the kernel does (float32 u and
r, Horner with fused multiply-add) on a grid of 2^14 points per interval.
"""
import numpy as np
from scipy.special import ndtr

from fitting import horner_f32, lawson_polyfit

LO, WIDTH, N, DEGREE = -3.0, 0.25, 32, 4


def gauss_pdf(x):
    return np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


FUNCTIONS = {  # name: (function, floor of the relative error's denominator)
    "cdf": (ndtr, 0.0),
    "slope": (lambda x: ndtr(x) + x * gauss_pdf(x), 1e-2),
}


def fit_interval(f, i, floor):
    r = np.cos(np.pi * (np.arange(400) + 0.5) / 400) / 2
    x = LO + (i + 0.5 + r) * WIDTH
    y = f(x)
    c, _ = lawson_polyfit(r, y, 1 / np.maximum(np.abs(y), floor), DEGREE, rounds=60)
    return c.astype(np.float32)  # highest power first


def worst_error(f, floor, table):
    worst = 0.0
    for i in range(N):
        x = np.float32(LO + i * WIDTH) + np.arange(2 ** 14, dtype=np.float32) * np.float32(WIDTH / 2 ** 14)
        u = (x * np.float32(1 / WIDTH) + np.float32(-LO / WIDTH)).astype(np.float32)
        r = (u - np.floor(u) - np.float32(0.5)).astype(np.float32)
        p = horner_f32(table[i], r)
        y = f(x.astype(np.float64))
        worst = max(worst, float((np.abs(p - y) / np.maximum(np.abs(y), floor)).max()))
    return worst


def main():
    tables = {}
    for name, (f, floor) in FUNCTIONS.items():
        tables[name] = np.array([fit_interval(f, i, floor) for i in range(N)])
        kind = "relative" if not floor else f"relative (denominator at least {floor:g})"
        print(f"// {name}: worst {kind} error {worst_error(f, floor, tables[name]):.2e}")
    print(f"alignas(64) constexpr float kGeluPieces[2][{DEGREE + 1}][{N}] = {{")
    for name, table in tables.items():
        print(f"    {{  // {name}: power {DEGREE} down to 0, interval 0 to {N - 1}")
        for k in range(DEGREE + 1):
            print("        {" + ", ".join(f"{float(v):.9g}f" for v in table[:, k]) + "},")
        print("    },")
    print("};")


if __name__ == "__main__":
    main()
