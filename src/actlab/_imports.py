"""Import a user's ``PKG.MODULE:FUNC`` (a model factory, a task), with errors that say how to fix the name."""
from __future__ import annotations

import importlib
from typing import Callable


def load_callable(spec: str, *, what: str, expected: str) -> Callable:
    """FUNC of ``PKG.MODULE:FUNC``; a ValueError names ``what`` (e.g. "model 'x:y'") and the ``expected`` thing.

    Examples:
        >>> load_callable("math:sqrt", what="model 'math:sqrt'", expected="a function")(9.0)
        3.0
    """
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"{what}: expected PKG.MODULE:FUNC, {expected}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{what}: cannot import module {module_name!r} ({err}); make sure it is installed "
                         "or on PYTHONPATH") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"{what}: module {module_name!r} has no callable {func_name!r}; expected {expected}")
    return func
