"""``actlab.advise(model, batch)``: measure any model, compare with the theory, say what to change.

    advice = actlab.advise(model, (x, y))
    print(advice); advice.to_html("advice.html"); advice.apply(model)

This module object is itself callable, so ``actlab.advise(model, batch)`` and
``from actlab.advise import advise`` are the same function.
"""
import sys
import types

from .core import advise
from .report import Advice
from .rules import Recommendation

__all__ = ["Advice", "Recommendation", "advise"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return advise(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
