"""Tasks a study can compare activations on: data, model family, loss, metric and budget, by name.

    actlab.tasks.names()              # ['seed-cnn', 'deep-mlp', 'char-lm', 'fit']
    actlab.tasks.get("deep-mlp")      # a Task: dataset, model, metric, default budget, test profile
    actlab.tasks.get("my_pkg.tasks:protein_mlp")   # a user's task: FUNC() returns a Task

Every built-in task trains in ``actlab compare --task NAME`` and ``actlab
suite``: ``seed-cnn`` (the default) and ``deep-mlp`` classify images;
``char-lm`` (:mod:`.charlm`) is a small character-level transformer on a text
corpus, metric bits per character; ``fit`` (:mod:`.fit`) fits 1-D and 2-D
functions, metric RMSE outside the training box. See docs/tasks.md.
"""
from .builtin import BUILTIN, DEFAULT
from .charlm import CharLMConfig, CharLMResult, CharTransformer, hidden_width, is_gated, train_charlm
from .definition import KINDS, TRAINABLE, Task, TaskError
from .registry import get, is_user_task, names
from .study import study_settings

__all__ = ["BUILTIN", "DEFAULT", "KINDS", "TRAINABLE", "CharLMConfig", "CharLMResult", "CharTransformer", "Task",
           "TaskError", "get", "hidden_width", "is_gated", "is_user_task", "names", "study_settings",
           "train_charlm"]
