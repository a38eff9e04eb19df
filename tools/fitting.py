"""Shared pieces of the fitting scripts in tools/ (fit_gelu_pieces, fit_exp_f32, fit_gauss_mills).

    lawson_polyfit(t, y, w, degree, rounds)   weighted least squares reweighted towards minimax
    horner_f32(coef, t)                       a polynomial evaluated as the kernels do: float32, fma Horner
"""
import numpy as np


def lawson_polyfit(t, y, w, degree, rounds, normalised_start=False):
    """The polynomial of ``degree`` in t (highest power first) minimising max |p(t) - y| * w: least squares
    with weights reweighted by each point's error (Lawson's algorithm); returns it and that error.
    ``normalised_start`` starts the weights at 1/n instead of 1: the same fit in exact arithmetic, kept so
    that each script prints, to the last bit, the coefficients the kernels hold."""
    vander = np.vander(t, degree + 1)
    lawson = np.full_like(y, 1 / y.size) if normalised_start else np.ones_like(y)
    for _ in range(rounds):
        s = w * np.sqrt(lawson)
        c, *_ = np.linalg.lstsq(vander * s[:, None], y * s, rcond=None)
        err = np.abs(np.polyval(c, t) - y) * w
        lawson = lawson * err
        lawson /= lawson.sum()
    return c, float(err.max())


def horner_f32(coef, t):
    """sum coef[k] t^(n-k) for float32 t and coefficients (highest power first), one rounding per step (fma)."""
    p = np.full_like(t, coef[0])
    for c in coef[1:]:
        p = (p.astype(np.float64) * t + c).astype(np.float32)
    return p
