r"""The input-output Jacobian's squared singular values: predicted moments and a sampler.

For a depth-L network at the variance fixed point, J = D_L W_L ... D_1 W_1
with D_l = diag(phi'(h^l)). Pennington, Schoenholz and Ganguli (2017,
"Resurrecting the sigmoid in deep learning through dynamical isometry")
compute the spectrum of J J^T with free probability: the factors are
asymptotically free, so their S-transforms multiply. To second order this
means that the mean multiplies and the *relative variance* v = m2/m1^2 - 1
adds over factors:

.. math::

    m_1 = \chi_1^L, \qquad
    \sigma^2 = m_2 - m_1^2 = m_1^2\, L\, \Big(\frac{\mu_2}{\mu_1^2} - 1 + s_W\Big),
    \qquad \mu_k = \mathbb{E}_z[\phi'(\sqrt{q^*} z)^{2k}],

with s_W = 1 for Gaussian weights (W W^T is Marchenko-Pastur with ratio 1,
relative variance 1) and s_W = 0 for scaled orthogonal weights (W W^T =
sigma_w2 I). This is the paper's eq. (20)/(21) at chi_1 = 1, and holds for
any chi_1. ReLU has mu_2 = mu_1^2 * 2, so even orthogonal ReLU networks have
sigma^2 = L: no dynamical isometry; tanh near q* = 0 approaches it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from .activation import resolve
from .meanfield import _check_weights, _moment, _q_star

WEIGHTS = ("gaussian", "orthogonal")


@dataclass(frozen=True)
class Spectrum:
    """Mean and variance of the squared singular values of J (eigenvalues of J J^T)."""

    mean: float
    variance: float


def _weights(weights: str) -> float:
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)} (got {weights!r})")
    return 1.0 if weights == "gaussian" else 0.0


def jacobian_spectrum(name: str, sigma_w2: float, sigma_b2: float, depth: int,
                      weights: str = "gaussian", **params) -> Spectrum:
    """Predicted mean and variance of J J^T's eigenvalues for a wide random network of ``depth`` layers.

    Args:
        name: activation name or spec string.
        sigma_w2, sigma_b2: weight variance times fan-in, and bias variance.
        depth: number of layers L (each a weight matrix followed by phi), >= 1.
        weights: ``"gaussian"`` (i.i.d. normal) or ``"orthogonal"`` (scaled orthogonal).

    Returns:
        A :class:`Spectrum`.

    Examples:
        >>> s = jacobian_spectrum("relu", 2.0, 0.0, depth=10, weights="orthogonal")
        >>> round(s.mean, 12), round(s.variance, 12)  # mean 1, variance L
        (1.0, 10.0)
    """
    _check_weights(sigma_w2, sigma_b2)
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be a whole number of layers >= 1 (got {depth})")
    s_w = _weights(weights)
    phi = resolve(name, params)
    q = _q_star(phi, float(sigma_w2), float(sigma_b2))
    q = 1e16 if math.isinf(q) else q
    mu1 = float(_moment(phi, lambda u: phi.df(u) ** 2, q))
    mu2 = float(_moment(phi, lambda u: phi.df(u) ** 4, q))
    mean = (sigma_w2 * mu1) ** depth
    return Spectrum(mean=mean, variance=mean * mean * depth * (mu2 / (mu1 * mu1) - 1.0 + s_w))


def _matrix(width: int, sigma_w2: float, weights: str, generator: torch.Generator) -> torch.Tensor:
    g = torch.randn(width, width, dtype=torch.float64, generator=generator)
    if weights == "orthogonal":
        qmat, r = torch.linalg.qr(g)
        return math.sqrt(sigma_w2) * qmat * torch.sign(torch.diagonal(r))  # Haar-distributed
    return g * math.sqrt(sigma_w2 / width)


def sample_jacobian_spectrum(name: str, sigma_w2: float, sigma_b2: float, depth: int, width: int = 400,
                             weights: str = "gaussian", seed: Optional[int] = 0, **params) -> np.ndarray:
    """Eigenvalues of J J^T for one random network of the given width, at an input at q*.

    The input x is drawn so that the first layer's pre-activations have
    variance q* (or 1 when q* is 0 or inf); biases have variance sigma_b2.

    Returns:
        The ``width`` squared singular values of J, float64.
    """
    _check_weights(sigma_w2, sigma_b2)
    _weights(weights)
    phi = resolve(name, params)
    q = _q_star(phi, float(sigma_w2), float(sigma_b2))
    q = 1.0 if q == 0.0 or math.isinf(q) else q
    gen = torch.Generator().manual_seed(0 if seed is None else seed)
    x = torch.randn(width, dtype=torch.float64, generator=gen)
    x *= math.sqrt(max(q - sigma_b2, 1e-12) / sigma_w2) / x.norm() * math.sqrt(width)
    jac = torch.eye(width, dtype=torch.float64)
    for _ in range(depth):
        w = _matrix(width, sigma_w2, weights, gen)
        b = torch.randn(width, dtype=torch.float64, generator=gen) * math.sqrt(sigma_b2)
        h = w @ x + b
        x = torch.as_tensor(phi.f(h.numpy()))
        jac = torch.as_tensor(phi.df(h.numpy()))[:, None] * (w @ jac)
    return torch.linalg.svdvals(jac).numpy() ** 2
