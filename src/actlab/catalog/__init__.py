"""The activation catalog: one definition per activation, and what derives from it."""
from .registry import ALIASES, CLASSES, DEFINITIONS, UnknownActivation, get, label, names, parse, resolve, spec
from .spec import LEARNABLE, Activation, Param

__all__ = ["ALIASES", "CLASSES", "DEFINITIONS", "LEARNABLE", "Activation", "Param", "UnknownActivation",
           "get", "label", "names", "parse", "resolve", "spec"]
