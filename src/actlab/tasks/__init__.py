"""Tasks a study can compare activations on: data, model family, loss, metric and budget, by name.

``char-lm`` (:mod:`.charlm`): a small character-level transformer on a text
corpus, metric bits per character.
"""
from .charlm import CharLMConfig, CharLMResult, CharTransformer, hidden_width, is_gated, train_charlm

__all__ = ["CharLMConfig", "CharLMResult", "CharTransformer", "hidden_width", "is_gated", "train_charlm"]
