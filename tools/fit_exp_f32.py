"""Fit the polynomial of the fused kernels' float32 e^x (catalog/fused.cpp, exp_poly_f32).

    .venv/bin/python tools/fit_exp_f32.py      # prints the C++ coefficients and the error in ulps

After the Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, the kernels compute
e^r = 1 + (r + r^2 u(r)) in float32 (one rounding at the end) and scale by 2^n exactly.
u is a degree-4 polynomial fitted to (e^r - 1 - r)/r^2, minimax for the relative error of
e^r (least squares reweighted towards minimax: Lawson's algorithm), against NumPy's
float64 expm1. Sleef's expf (Shibata and Petrogalli, IEEE TPDS 2020) uses degree 5 for u;
degree 4 is already within 3e-9 of e^r before rounding, so the float32 result stays within
one ulp (the check below evaluates the float32 coefficients as the kernel does: Horner
with fused multiply-add; tests/test_fused.py checks the kernels' e^x over its whole range).
"""
import numpy as np

from fitting import horner_f32, lawson_polyfit

DEGREE = 4
HALF_LN2 = np.log(2) / 2


def fit():
    r = np.linspace(-HALF_LN2 * 1.0001, HALF_LN2 * 1.0001, 200001)
    r = r[np.abs(r) > 1e-9]
    y = (np.expm1(r) - r) / (r * r)
    w = r * r / np.exp(r)  # an error in u moves e^r by r^2 du: relative to e^r
    c, err = lawson_polyfit(r, y, w, DEGREE, rounds=100, normalised_start=True)
    return c.astype(np.float32), err  # highest power first


def worst_ulps(c32):
    r = np.linspace(-HALF_LN2, HALF_LN2, 400001).astype(np.float32)
    u = horner_f32(c32, r)
    r2 = (r * r).astype(np.float32)
    t = (r2.astype(np.float64) * u + r).astype(np.float32)
    e = (t.astype(np.float64) + 1.0).astype(np.float32)
    exact = np.exp(r.astype(np.float64))
    return float((np.abs(e - exact) / np.spacing(exact.astype(np.float32))).max())


def main():
    c32, exact = fit()
    print("u, highest power first:", ", ".join(f"{v:.9g}f" for v in c32))
    print(f"relative error of e^r before rounding {exact:.2e}; float32 result within {worst_ulps(c32):.3f} ulp"
          " on |r| <= ln2/2")


if __name__ == "__main__":
    main()
