"""Mean-field signal-propagation theory for every elementwise catalog activation.

Predicts, before any training, how a wide random network with activation phi
and weights of variance sigma_w2 / fan_in (biases sigma_b2) propagates signals
and gradients: the variance fixed point q*, chi_1, the depth scales, the edge
of chaos, the NNGP kernel, the Jacobian spectrum, and the chance that a ReLU
network is born dead. Papers: Poole et al. 2016; Schoenholz et al. 2017;
Pennington, Schoenholz and Ganguli 2017; Lu et al. 2019. See docs/theory.md.

    >>> from actlab import theory
    >>> round(theory.critical_gain("relu") ** 2, 12)
    2.0
"""
from .activation import is_elementwise
from .critical import TRAINABLE_DEPTH_MULTIPLE, NoCriticalPoint, critical_gain, critical_sigma_w2, trainable_depth
from .dead import born_dead
from .fastgrid import fast_phase_diagram
from .jacobian import Spectrum, jacobian_spectrum, sample_jacobian_spectrum
from .meanfield import (FixedPoint, chi1, chi_c, correlation_fixed_point, correlation_map, depth_scales,
                        fixed_point, fixed_points, kernel, variance_map)
from .phase import PHASES, PhaseDiagram, phase_diagram
from .summary import summary

__all__ = ["FixedPoint", "NoCriticalPoint", "PHASES", "PhaseDiagram", "Spectrum", "TRAINABLE_DEPTH_MULTIPLE",
           "born_dead", "chi1", "chi_c", "correlation_fixed_point", "correlation_map", "critical_gain",
           "critical_sigma_w2", "depth_scales", "fast_phase_diagram", "fixed_point", "fixed_points", "is_elementwise",
           "jacobian_spectrum", "kernel", "phase_diagram", "sample_jacobian_spectrum", "summary",
           "trainable_depth", "variance_map"]
