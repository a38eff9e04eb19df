"""Tasks by name, like the catalog's activations: ``names()``, ``get(name)``, and a user's ``PKG.MODULE:FUNC``."""
from __future__ import annotations

import importlib

from .builtin import BUILTIN, DEFAULT
from .definition import Task, TaskError


def names() -> list[str]:
    """The built-in tasks' names, the default first."""
    return [DEFAULT] + [n for n in BUILTIN if n != DEFAULT]


def is_user_task(text: str) -> bool:
    """Whether ``text`` names a user's task (``PKG.MODULE:FUNC``) rather than a built-in one."""
    return isinstance(text, str) and ":" in text


def get(name: str = DEFAULT) -> Task:
    """The task ``name``: a built-in name, or ``PKG.MODULE:FUNC`` (FUNC() returns a :class:`Task`).

    Raises:
        TaskError: an unknown name, a module that does not import, or a function that returns no Task.

    Examples:
        >>> get("deep-mlp").dataset
        'fashion-mnist'
    """
    if not isinstance(name, str) or not name.strip():
        raise TaskError(f"a task name is needed, e.g. {', '.join(names())} or PKG.MODULE:FUNC; got {name!r}")
    name = name.strip()
    if not is_user_task(name):
        if name not in BUILTIN:
            raise TaskError(f"unknown task {name!r}; expected one of {', '.join(names())} (see 'actlab tasks'), "
                            "or your own as PKG.MODULE:FUNC")
        return BUILTIN[name]
    return _load_user_task(name)


def _load_user_task(spec: str) -> Task:
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise TaskError(f"task {spec!r}: expected PKG.MODULE:FUNC, e.g. my_pkg.tasks:protein_mlp")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise TaskError(f"task {spec!r}: cannot import module {module_name!r} ({err}); install it or put its "
                        "folder on PYTHONPATH") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise TaskError(f"task {spec!r}: module {module_name!r} has no callable {func_name!r}; expected a "
                        "function that returns an actlab.tasks.Task")
    task = func()
    if not isinstance(task, Task):
        raise TaskError(f"task {spec!r}: {func_name}() returned {type(task).__name__}, not an actlab.tasks.Task; "
                        "build one with actlab.tasks.Task(name=..., summary=..., dataset=..., model=...)")
    return task
