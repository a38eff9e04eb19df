r"""Born dead: the chance that a ReLU network outputs a constant at initialisation (Lu et al. 2019).

Lu, Shin, Su and Karniadakis (2019, "Dying ReLU and initialization: theory
and numerical examples") show that a deep, narrow ReLU network is, with high
probability, dead at initialisation: some hidden layer sends every unit to
zero, after which the output no longer depends on the input.

For one given input the probability is exact. Given a nonzero previous layer
x, the pre-activations w_i . x + b_i of the ``width`` units are independent
and symmetric about zero when weights and biases are drawn from zero-mean
symmetric continuous distributions (normal, uniform: every standard init),
so each unit is inactive with probability 1/2, all of them with 2^-width,
and every layer has the same chance independently of the ones before it:

.. math::

    P(\text{dead}) = 1 - (1 - 2^{-N})^{L}

for L hidden layers of N units. This is Lu et al.'s per-input quantity; their
theorem bounds the probability that the network is constant on a whole
domain, which the per-input probability bounds from below.
"""
from __future__ import annotations


def born_dead(width: int, depth: int) -> float:
    """P(some hidden layer of a random ReLU network is all zeros) on one given nonzero input.

    Args:
        width: units per hidden layer, >= 1.
        depth: number of hidden ReLU layers, >= 1.

    Returns:
        1 - (1 - 2^-width)^depth.

    Examples:
        >>> born_dead(1, 2)  # one unit per layer: alive only if both are active
        0.75
        >>> born_dead(10, 100) < 0.1
        True
    """
    for label, value in (("width", width), ("depth", depth)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"born_dead: {label} must be a whole number >= 1 (got {value!r})")
    alive_per_layer = 1.0 - 0.5 ** int(width)
    return 1.0 - alive_per_layer ** int(depth)
