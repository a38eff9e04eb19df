r"""The edge of chaos: the weight variance at which chi_1 = 1, and the gain it implies.

At fixed bias variance sigma_b2, chi_1 moves with sigma_w2 through q*; the
critical sigma_w2 is where it crosses 1 with q* finite (Poole et al. 2016;
Schoenholz et al. 2017). Networks there keep gradients and input
correlations over the most layers. ``critical_gain`` is its square root: the
factor that multiplies 1/sqrt(fan_in) in the weights' standard deviation,
what ``torch.nn.init.calculate_gain`` tabulates by hand for a few activations.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from .activation import resolve
from .meanfield import _check_weights, _chi1_at, _q_star, Q_MAX

TRAINABLE_DEPTH_MULTIPLE = 6.0  # Schoenholz et al. 2017 (Sec. 5, MNIST/CIFAR-10 grids): trainable up to about 6 xi_c
_W_GRID = np.geomspace(0.01, 100.0, 33)


class NoCriticalPoint(ValueError):
    """chi_1 never crosses 1 at a finite fixed-point variance for this activation and sigma_b2."""


def critical_sigma_w2(name: str, sigma_b2: float = 0.0, **params) -> float:
    r"""The smallest sigma_w2 in [0.01, 100] with chi_1 = 1 and a finite q* (the edge of chaos).

    Found by scanning sigma_w2 and refining the first sign change of
    chi_1 - 1 with Brent's method; a sign change across a jump of q* (a fold
    of the variance map, where the stable branch vanishes) is not a crossing
    and is skipped.

    Args:
        name: activation name or spec string.
        sigma_b2: bias variance, >= 0.
        **params: the activation's parameters.

    Returns:
        The critical sigma_w2.

    Raises:
        NoCriticalPoint: when no such point exists, e.g. ReLU with sigma_b2 > 0
            (chi_1 = sigma_w2 / 2 reaches 1 only where q* diverges).

    Examples:
        >>> round(critical_sigma_w2("tanh", 0.0), 12)
        1.0
        >>> round(critical_sigma_w2("relu", 0.0), 12)
        2.0
    """
    _check_weights(1.0, sigma_b2)
    phi = resolve(name, params)
    sigma_b2 = float(sigma_b2)

    def gap(w):
        return _chi1_at(phi, _q_star(phi, float(w), sigma_b2), float(w)) - 1.0

    values = [gap(w) for w in _W_GRID]
    for i in range(len(_W_GRID) - 1):
        if values[i] == 0.0:
            root = float(_W_GRID[i])
        elif values[i] < 0.0 < values[i + 1]:
            root = brentq(gap, _W_GRID[i], _W_GRID[i + 1], xtol=1e-15, rtol=1e-15)
        else:
            continue
        q = _q_star(phi, root, sigma_b2)
        if abs(gap(root)) < 1e-8 and q < Q_MAX:
            return root
    raise NoCriticalPoint(
        f"{phi.label}: no edge of chaos at sigma_b2={sigma_b2:g}: chi_1 does not reach 1 at a finite "
        f"variance q* for any sigma_w2 in [0.01, 100]" + (
            " (it reaches 1 only where q* diverges)" if any(v > 0 for v in values) else ""))


def critical_gain(name: str, sigma_b2: float = 0.0, **params) -> float:
    """sqrt(critical sigma_w2): the weight-std multiplier that puts the network at the edge of chaos.

    Use it as ``std = critical_gain(name) / sqrt(fan_in)`` with zero biases
    (or biases of variance sigma_b2). For ReLU it is sqrt(2), He's gain.

    Examples:
        >>> round(critical_gain("relu"), 12)
        1.414213562373
    """
    return math.sqrt(critical_sigma_w2(name, sigma_b2, **params))


def trainable_depth(xi_c: float) -> float:
    """The depth up to which a network is expected to train: 6 xi_c (Schoenholz et al. 2017)."""
    return TRAINABLE_DEPTH_MULTIPLE * xi_c
