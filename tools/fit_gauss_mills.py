"""Fit the rational function of GELU's float32 kernel (catalog/fused.cpp, gauss<float>).

    .venv/bin/python tools/fit_gauss_mills.py      # prints the C++ coefficients and the errors

The float32 kernel computes Phi(x) and phi(x) from one exponential, with the same formula
on every lane whatever the input's spread:

    a = min(|x|, 15),  e = e^(-a^2/2)  (a^2 split exactly in two, so e keeps its precision),
    Q = Phi(-a) = e * m(a),  Phi(x) = Q for x < 0 and 1 - Q otherwise,  phi(x) = e / sqrt(2 pi)

where m(a) = e^(a^2/2) Phi(-a) = erfcx(a / sqrt 2) / 2 is smooth and bounded on [0, inf)
(1/2 at 0, about 1/(a sqrt(2 pi)) far out). m is a rational function N(a)/D(a) of degree
4 over 5 (D has positive coefficients: no pole on a >= 0). Beyond a = 15, e^(-a^2/2)
underflows float32, so Phi is exactly 0 or 1 there and a is clamped.

The fit: linearised least squares (y D - N = 0, D(0) = 1) on 40,000 points of [0, 15],
weighted for relative error and reweighted towards minimax (Lawson's algorithm); the
reference is scipy's erfcx. The check evaluates the float32 coefficients the way the
kernel does (float32 a, Horner with fused multiply-add, one rounded division).
"""
import numpy as np
from scipy.special import erfcx

from fitting import horner_f32

TOP, N_DEGREE, D_DEGREE = 15.0, 4, 5


def mills(a):
    """e^(a^2/2) Phi(-a)."""
    return 0.5 * erfcx(a / np.sqrt(2))


def fit():
    k = np.arange(20000)
    a = np.concatenate([TOP * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / 20000)), np.linspace(0, TOP, 20000)])
    y = mills(a)
    num_powers = np.vstack([a ** j for j in range(N_DEGREE + 1)]).T
    den_powers = np.vstack([a ** j for j in range(1, D_DEGREE + 1)]).T
    design = np.concatenate([num_powers, -y[:, None] * den_powers], 1)
    d = np.ones_like(a)
    lawson = np.full_like(a, 1 / a.size)
    for _ in range(200):
        s = np.sqrt(lawson) / (y * np.abs(d))
        c, *_ = np.linalg.lstsq(design * s[:, None], y * s, rcond=None)
        n = num_powers @ c[:N_DEGREE + 1]
        d = 1 + den_powers @ c[N_DEGREE + 1:]
        err = np.abs(n / d - y) / y
        lawson = lawson * err
        lawson /= lawson.sum()
    num = c[:N_DEGREE + 1].astype(np.float32)  # lowest power first
    den = np.concatenate([[1.0], c[N_DEGREE + 1:]]).astype(np.float32)
    return num, den, float(err.max())


def main():
    num, den, exact = fit()
    assert (den > 0).all(), den
    a = np.linspace(0, TOP, 300001).astype(np.float32)
    got = (horner_f32(num[::-1], a).astype(np.float64) / horner_f32(den[::-1], a)).astype(np.float32)
    rel = np.abs(got / mills(a.astype(np.float64)) - 1)
    print("// m(a) = N(a) / D(a), lowest power first")
    print("N:", ", ".join(f"{v:.9g}f" for v in num))
    print("D:", ", ".join(f"{v:.9g}f" for v in den))
    print(f"relative error: fit {exact:.2e}; float32 coefficients evaluated in float32 {rel.max():.2e}"
          f" (at a = {a[rel.argmax()]:.4f})")


if __name__ == "__main__":
    main()
