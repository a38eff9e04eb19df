"""Every definition, in catalog order: the frameworks' activations, then the literature's, then the gated units."""
from __future__ import annotations

from . import definitions, gated, literature
from .spec import Activation

ALL: tuple[Activation, ...] = definitions.ALL + literature.ALL + gated.ALL
