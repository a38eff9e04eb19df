"""actlab: which activation function should this network use, and why?

Stable public API::

    actlab.names()                    # canonical activation names
    actlab.get("elu", alpha=0.2)      # a torch.nn.Module with .derivative(x)
    actlab.spec("gelu")               # the single definition (formula, params, ...)
    actlab.swap(model, "gelu")        # replace every activation in a model
    with actlab.diagnose(model) as d: # per-layer gradient and activation statistics
        ...
    actlab.functional.elu(x, alpha=0.2)  # every activation as a function
    actlab.theory.chi1("tanh", 1.0, 0.0)  # mean-field signal propagation
    actlab.advise(model, batch)       # measured vs predicted, and what to change
    actlab.load("runs/mnist")         # a study's ranking, runs and history (pandas)
"""
from ._version import __version__
from .catalog import get, label, names, parse, resolve, spec

__all__ = ["advise", "diagnose", "functional", "get", "label", "load", "modules", "names", "parse", "resolve",
           "spec", "swap", "theory", "__version__"]
_LAZY = ("diagnose", "advise", "functional", "modules", "theory")


def swap(model, name, **params):
    """Replace every activation module in ``model`` by ``actlab.get(name, **params)``; see actlab.models.swap."""
    from .models import swap as _swap

    return _swap(model, name, **params)


def load(path):
    """A study's results (folder or its results.sqlite), read-only: ``.ranking``, ``.runs``, ``.history``
    as pandas DataFrames, ``.config``, ``.provenance``; see actlab.results.load."""
    from .results import load as _load

    return _load(path)


def __getattr__(attr):
    # `actlab.diagnose` is both the subpackage and, through its callable module
    # object, the context manager `actlab.diagnose(model)`; `actlab.advise` likewise.
    # The others are imported on first use, so `import actlab` stays quick.
    if attr in _LAZY:
        import importlib

        return importlib.import_module(f".{attr}", __name__)
    raise AttributeError(f"module 'actlab' has no attribute {attr!r}")
