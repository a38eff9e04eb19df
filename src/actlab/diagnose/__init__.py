"""Gradient-flow diagnostics for any torch.nn.Module, and the `actlab gradients` experiments.

    with actlab.diagnose(model, optimizer=opt) as d:
        ...train or evaluate as usual...
    d.table(); d.plot("grad_norm")

This module object is itself callable, so ``actlab.diagnose(model)`` and
``from actlab.diagnose import diagnose`` are the same function.
"""
import sys
import types

from .core import METRICS, Diagnoser, diagnose, epoch_summary

__all__ = ["METRICS", "Diagnoser", "diagnose", "epoch_summary"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return diagnose(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
