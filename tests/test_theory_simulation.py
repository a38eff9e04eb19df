"""Theory against measurement: random networks sampled with torch, measured with actlab.diagnose.

Error bars: every comparison uses the spread of the measured quantity over
layers and independent networks (standard error), and asserts agreement
within 4 standard errors plus a stated finite-width allowance.
"""
import math
from functools import lru_cache

import numpy as np
import pytest
import torch
from torch import nn

import actlab
from actlab import theory

WIDTH, DEPTH = 1000, 10


@lru_cache(maxsize=None)
def _standard_weights(seed):
    """Standard normal weights and biases for DEPTH layers, drawn once per seed and shared by the tests."""
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(WIDTH, WIDTH, generator=gen), torch.randn(WIDTH, generator=gen)) for _ in range(DEPTH)]


def _random_mlp(name, sigma_w2, sigma_b2, seed):
    """W ~ N(0, sigma_w2 / N), b ~ N(0, sigma_b2), then the activation, DEPTH times (float64)."""
    layers = []
    for w, b in _standard_weights(seed):
        lin = nn.Linear(WIDTH, WIDTH).double()
        with torch.no_grad():
            lin.weight.copy_(w.double() * math.sqrt(sigma_w2 / WIDTH))
            lin.bias.copy_(b.double() * math.sqrt(sigma_b2))
        layers += [lin, actlab.get(name).double()]
    return nn.Sequential(*layers)


def _input_at(q, sigma_w2, sigma_b2, width, gen):
    """An input whose first-layer pre-activations have variance q."""
    x = torch.randn(1, width, dtype=torch.float64, generator=gen)
    return x / x.norm() * math.sqrt(width * (q - sigma_b2) / sigma_w2)


@pytest.mark.parametrize("name,w,b", [("tanh", 1.5, 0.05), ("tanh", 2.5, 0.05), ("relu", 1.8, 0.1),
                                      ("selu", 1.0, 0.0), ("gelu", 1.5, 0.1)])
def test_per_layer_gradient_ratio_measured_by_diagnose_matches_chi1(name, w, b):
    q = theory.fixed_point(name, w, b)
    log_ratios = []
    gen = torch.Generator().manual_seed(1)
    for seed in range(3):
        model = _random_mlp(name, w, b, seed)
        x = _input_at(q, w, b, WIDTH, gen)
        v = torch.randn(1, WIDTH, dtype=torch.float64, generator=gen)
        with actlab.diagnose(model) as d:
            (model(x) * v).sum().backward()
        norms = [row["grad_norm_w"] for row in d.table()]
        assert len(norms) == DEPTH
        # ||dL/dW_l||^2 = ||delta_l||^2 ||x_{l-1}||^2, and ||x||^2 is steady at q*: the ratio is chi_1
        log_ratios += [2 * math.log(norms[i] / norms[i + 1]) for i in range(DEPTH - 1)]
    mean, se = np.mean(log_ratios), np.std(log_ratios, ddof=1) / math.sqrt(len(log_ratios))
    predicted = math.log(theory.chi1(name, w, b))
    assert abs(mean - predicted) < 4 * se + 0.01, (name, math.exp(mean), math.exp(predicted), se)


@pytest.mark.parametrize("name,w,b,c0", [("tanh", 2.5, 0.05, 0.95), ("tanh", 4.0, 0.05, 0.1), ("relu", 1.8, 0.1, 0.2),
                                         ("elu", 1.5, 0.1, 0.0), ("tanh", 1.2, 0.1, 0.3)])
def test_measured_correlation_of_two_inputs_follows_the_c_map(name, w, b, c0):
    q = theory.fixed_point(name, w, b)
    gen = torch.Generator().manual_seed(2)
    measured = []
    for seed in range(3):
        model = _random_mlp(name, w, b, seed)
        a = torch.randn(WIDTH, dtype=torch.float64, generator=gen)
        n = torch.randn(WIDTH, dtype=torch.float64, generator=gen)
        n -= (n @ a) / (a @ a) * a
        pair = torch.stack([a / a.norm(), n / n.norm()])
        # inputs with cosine r give first-layer pre-activations of correlation (w r (q - b)/w + b) / q = c0
        r = (c0 * q - b) / (q - b)
        pair = torch.stack([pair[0], r * pair[0] + math.sqrt(1 - r * r) * pair[1]])
        h = pair * math.sqrt(WIDTH * (q - b) / w)
        row = []
        with torch.no_grad():
            for layer in model:
                h = layer(h)
                if isinstance(layer, nn.Linear):
                    row.append(float((h[0] @ h[1]) / (h[0].norm() * h[1].norm())))
        measured.append(row)
    measured = np.array(measured)
    predicted = [c0]
    for _ in range(DEPTH - 1):
        predicted.append(float(theory.correlation_map(name, predicted[-1], w, b)))
    mean = measured.mean(axis=0)
    se = measured.std(axis=0, ddof=1) / math.sqrt(len(measured))
    # the empirical correlation of N units has O(1/N) bias from the finite sample
    assert np.all(np.abs(mean - predicted) < 4 * se + 0.01), (mean, predicted, se)


@pytest.mark.parametrize("width,depth,bias", [(2, 6, 0.0), (3, 8, 1.0), (1, 3, 0.5)])
def test_born_dead_matches_monte_carlo(width, depth, bias):
    trials = 20000
    gen = torch.Generator().manual_seed(width * 100 + depth)
    x = torch.randn(trials, 5, 1, generator=gen)
    h = torch.randn(trials, width, 5, generator=gen) @ x + bias * torch.randn(trials, width, 1, generator=gen)
    dead = torch.zeros(trials, dtype=torch.bool)
    for layer in range(depth):
        if layer:
            w = torch.randn(trials, width, width, generator=gen)
            h = w @ a + bias * torch.randn(trials, width, 1, generator=gen)
        a = torch.relu(h)
        dead |= (a == 0).all(dim=(1, 2))
    p = theory.born_dead(width, depth)
    se = math.sqrt(p * (1 - p) / trials)
    assert abs(dead.double().mean().item() - p) < 4 * se


@pytest.mark.parametrize("name,b,weights", [("relu", 0.0, "gaussian"), ("relu", 0.0, "orthogonal"),
                                            ("tanh", 0.05, "orthogonal"), ("tanh", 0.05, "gaussian")])
def test_jacobian_spectrum_moments_match_sampled_networks(name, b, weights):
    depth, width = 5, 200
    w = theory.critical_sigma_w2(name, b)
    predicted = theory.jacobian_spectrum(name, w, b, depth, weights=weights)
    means, variances = [], []
    for seed in range(4):
        ev = theory.sample_jacobian_spectrum(name, w, b, depth, width=width, weights=weights, seed=seed)
        means.append(ev.mean())
        variances.append(ev.var())
    m_se = np.std(means, ddof=1) / 2
    v_se = np.std(variances, ddof=1) / 2
    # finite width adds O(depth / width) to the relative spread: allow 10 % on top of 4 standard errors
    assert abs(np.mean(means) - predicted.mean) < 4 * m_se + 0.1 * predicted.mean
    assert abs(np.mean(variances) - predicted.variance) < 4 * v_se + 0.1 * predicted.variance
    if name == "relu":  # Pennington et al.: ReLU has variance L (orthogonal) or 2L (Gaussian) at chi_1 = 1
        assert predicted.variance == pytest.approx(depth * (2 if weights == "gaussian" else 1))
