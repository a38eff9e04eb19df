r"""Gated linear units: the input split in two along a dimension, one half gating the other.

The registry appends ``ALL`` to the catalog after the elementwise activations.
"""
from __future__ import annotations

from .spec import Activation

ALL: tuple[Activation, ...] = ()
