r"""Activations from the research literature that no major framework ships as an op.

Each is one :class:`~actlab.catalog.spec.Activation`, written like those in
``definitions.py`` (forward, analytic derivative, mpmath reference, LaTeX,
parameters, properties, references); the registry appends ``ALL`` to the
catalog after the framework activations.
"""
from __future__ import annotations

from .spec import Activation

ALL: tuple[Activation, ...] = ()
