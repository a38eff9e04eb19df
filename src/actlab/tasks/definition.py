"""What a task is: data + a model family + a loss + a metric + a default budget, in one frozen definition.

A study (``actlab compare --task NAME``) takes its dataset, model and budget
from the task; every flag the user gives overrides the task's value. A
user's own task is a function ``PKG.MODULE:FUNC`` returning a :class:`Task`
(see :mod:`.registry`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Optional, Union

KINDS = ("classification", "regression", "language-model")
# The kinds ``actlab compare`` trains (each by its objective in actlab.compare.objectives): all of them.
TRAINABLE = KINDS
DIRECTIONS = ("max", "min")
# Study settings a task's budget may set (the rest of a study is the user's: seeds, workers, output).
BUDGET_KEYS = ("seeds", "grid", "train_limit", "val_fraction", "epochs", "batch_size", "lr", "optimizer",
               "clip_value", "clip_norm", "init", "batchnorm", "width", "depth", "activations",
               "steps", "context", "heads", "target")


class TaskError(ValueError):
    """A task name that names no task, or a definition that is not a valid task."""


def _frozen(mapping: Optional[Mapping]) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


def model_name(model: Union[str, Callable]) -> str:
    """A model family as the string a study records: 'cnn', 'mlp', 'plain-mlp' or 'PKG.MODULE:FUNC'.

    A callable (a factory ``FUNC(activation_factory, in_shape=..., num_classes=...)``) becomes its import
    path, so worker processes (and a resumed study) import the same function.
    """
    if isinstance(model, str):
        return model
    module, qualname = getattr(model, "__module__", None), getattr(model, "__qualname__", "")
    if not callable(model) or not module or "<" in qualname or "." in qualname:
        raise TaskError(f"a task's model must be 'cnn', 'mlp', 'plain-mlp', 'PKG.MODULE:FUNC' or a function "
                        f"defined at the top level of an importable module; got {model!r}")
    return f"{module}:{qualname}"


@dataclass(frozen=True)
class Task:
    """One task a study can compare activations on.

    Args:
        name: the registry name (``seed-cnn``) or, for a user's task, any short name.
        summary: one line on what the task shows.
        kind: classification, regression or language-model (``actlab compare`` trains all three).
        dataset: the default dataset spec (``fashion-mnist``, ``npz:FILE``, ``csv:FILE``, ``imagefolder:DIR``;
            ``text:FILE`` for a language model, ``grid`` for the fit task's generated grids).
        model: the model family: 'cnn', 'mlp', 'plain-mlp' (an MLP without dropout), 'char-transformer'
            (the char-lm model), 'PKG.MODULE:FUNC' or a top-level function (see :func:`model_name`).
        loss: the training loss ('cross_entropy' for classification).
        metric: the score the study ranks by; ``direction`` 'max' when higher is better.
        budget: Study settings of the default study (epochs, train_limit, grid, ...; see ``BUDGET_KEYS``),
            sized so six activations x three seeds fit ``minutes`` on a 2-core machine.
        test: settings laid over ``budget`` for the small profile the tests use.
        minutes: the default study's expected wall time on 2 cores (six activations, three seeds), or None.

    Examples:
        >>> Task("tiny", "a small MLP", dataset="csv:table.csv", model="mlp").model
        'mlp'
    """

    name: str
    summary: str
    kind: str = "classification"
    dataset: str = "mnist-small"
    model: Union[str, Callable] = "cnn"
    loss: str = "cross_entropy"
    metric: str = "accuracy"
    direction: str = "max"
    budget: Mapping = field(default_factory=dict)
    test: Mapping = field(default_factory=dict)
    minutes: Optional[float] = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise TaskError(f"a task needs a non-empty name, got {self.name!r}")
        if self.kind not in KINDS:
            raise TaskError(f"task {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.direction not in DIRECTIONS:
            raise TaskError(f"task {self.name!r}: direction {self.direction!r} must be 'max' (higher is better) "
                            "or 'min'")
        object.__setattr__(self, "model", model_name(self.model))
        for what in ("budget", "test"):
            settings = getattr(self, what)
            if not isinstance(settings, Mapping):
                raise TaskError(f"task {self.name!r}: {what} must be a mapping of study settings, got {settings!r}")
            unknown = sorted(set(settings) - set(BUDGET_KEYS))
            if unknown:
                raise TaskError(f"task {self.name!r}: {what} sets {', '.join(unknown)}, which a task cannot set; "
                                f"it may set {', '.join(BUDGET_KEYS)}")
            object.__setattr__(self, what, _frozen(settings))

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "max"

    def settings(self, profile: str = "default") -> dict:
        """The Study settings of this task's ``default`` or ``test`` profile (dataset and model included)."""
        if profile not in ("default", "test"):
            raise TaskError(f"task {self.name!r} has the profiles 'default' and 'test', not {profile!r}")
        out = {"dataset": self.dataset, "model": self.model, **self.budget}
        if profile == "test":
            out.update(self.test)
        return out
