"""actlab: which activation function should this network use, and why?

Stable public API::

    actlab.names()                    # canonical activation names
    actlab.get("elu", alpha=0.2)      # a torch.nn.Module with .derivative(x)
    actlab.spec("gelu")               # the single definition (formula, params, ...)
    actlab.swap(model, "gelu")        # replace every activation in a model
    with actlab.diagnose(model) as d: # per-layer gradient and activation statistics
        ...
"""
from .catalog import get, label, names, parse, resolve, spec

__version__ = "0.1.0"
__all__ = ["diagnose", "get", "label", "names", "parse", "resolve", "spec", "swap", "__version__"]


def swap(model, name, **params):
    """Replace every activation module in ``model`` by ``actlab.get(name, **params)``; see actlab.models.swap."""
    from .models import swap as _swap

    return _swap(model, name, **params)


def __getattr__(attr):
    # `actlab.diagnose` is both the subpackage and, through its callable module
    # object, the context manager `actlab.diagnose(model)`.
    if attr == "diagnose":
        import importlib

        return importlib.import_module(".diagnose", __name__)
    raise AttributeError(f"module 'actlab' has no attribute {attr!r}")
