"""actlab: which activation function should this network use, and why?

Stable public API::

    actlab.names()                    # canonical activation names
    actlab.get("elu", alpha=0.2)      # a torch.nn.Module with .derivative(x)
    actlab.spec("gelu")               # the single definition (formula, params, ...)
"""
from .catalog import get, label, names, parse, resolve, spec

__version__ = "0.1.0"
__all__ = ["get", "label", "names", "parse", "resolve", "spec", "__version__"]
