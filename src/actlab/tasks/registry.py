"""Tasks by name, like the catalog's activations: ``names()``, ``get(name)``, and a user's ``PKG.MODULE:FUNC``."""
from __future__ import annotations


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
    from .._imports import load_callable

    try:
        func = load_callable(spec, what=f"task {spec!r}", expected="a function that returns an actlab.tasks.Task "
                             "(e.g. my_pkg.tasks:protein_mlp)")
    except ValueError as err:
        raise TaskError(str(err)) from None
    task = func()
    if not isinstance(task, Task):
        raise TaskError(f"task {spec!r}: {func.__name__}() returned {type(task).__name__}, not an actlab.tasks.Task; "
                        "build one with actlab.tasks.Task(name=..., summary=..., dataset=..., model=...)")
    return task
