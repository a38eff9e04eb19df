"""actlab.models: networks for ``actlab compare`` and activation swapping for any model.

    build_model("cnn", "gelu")          # the seed CNN with GELU, He-initialised
    build_model("mlp", "selu", depth=4) # LeCun init and AlphaDropout, chosen from the catalog
    swap(my_model, "mish")              # replace every activation module in place
    accelerate(model)                   # the same function, computed faster (the compare engine uses it)
"""
from .build import KINDS, build_model, dropout_layer, load_factory
from .fast import ByteDropout, PoolThenActivation, ToContiguous, accelerate, is_non_decreasing
from .init import SCHEMES, he_gain, init_weights, scheme_for, spec_string
from .swap import is_activation, swap

__all__ = ["KINDS", "SCHEMES", "ByteDropout", "PoolThenActivation", "ToContiguous", "accelerate", "build_model",
           "dropout_layer", "he_gain", "init_weights", "is_activation", "is_non_decreasing", "load_factory",
           "scheme_for", "spec_string", "swap"]
