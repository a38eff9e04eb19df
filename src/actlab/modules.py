"""Every activation as an importable ``torch.nn.Module`` class: ``from actlab.modules import GELU``."""
from .catalog.registry import CLASSES

globals().update({cls.__name__: cls for cls in CLASSES.values()})
__all__ = sorted(cls.__name__ for cls in CLASSES.values())
