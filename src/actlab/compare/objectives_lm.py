r"""The language-model objective: the char-lm transformer trained by the compare engine.

Everything model-specific is :mod:`actlab.tasks.charlm`'s (the model, AdamW
with weight decay on matrices only, the warm-up + cosine learning rate, the
random windows, the evaluation windows, the mixed precision); this module
says what an *epoch* of it is, so the engine's seeds, checkpoints, rounds,
divergence handling and executors apply unchanged.

An epoch is ``steps`` optimizer steps on random training windows drawn from
the run's shuffling generator (the same windows for every activation of a
seed). The learning rate follows one schedule over all ``epochs * steps``
steps (warm-up over 100 steps or a tenth of them, whichever is fewer, then
cosine decay to 10%), so a study trained in rounds or resumed takes the same
steps as one trained in one go. Numbers per epoch (``EpochRecord``):

- ``train_loss``: the mean cross-entropy (nats) of the epoch's steps;
  ``train_acc``: the same in bits per character (:math:`/\ln 2`);
- ``val_*``: on the fixed, evenly spread windows of the validation block
  (``EVAL_WINDOWS``, as :func:`~actlab.tasks.charlm.train_charlm`);
- ``test_*``: on the whole test block in back-to-back windows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tasks.charlm import LN2, CharLMConfig, bits_per_character, build, fixed_starts, make_optimizer, windows
from .engine import DIVERGENCE_CHECK, TrainConfig

WARMUP = 100  # steps of linear warm-up (at most a tenth of the run's steps)
EVAL_WINDOWS = 64  # validation windows, evenly spread over the validation block


def charlm_config(config: TrainConfig, seed: int = 0) -> CharLMConfig:
    """The char-lm settings of an engine config: ``depth`` blocks, ``epochs * steps`` steps in all, weights
    from ``seed``."""
    total = config.epochs * config.steps
    return CharLMConfig(activation=config.activation, layers=config.depth, width=config.width, heads=config.heads,
                        context=config.context, batch_size=config.batch_size, steps=total, lr=config.lr,
                        warmup=min(WARMUP, max(1, total // 10)), eval_windows=EVAL_WINDOWS, seed=seed)


class LanguageModel:
    """The objective of ``model='char-transformer'`` runs on a text corpus (see the module docstring)."""

    kind = "language-model"
    fast = False  # actlab.models.accelerate knows the classifiers' layers, not the transformer's

    def prepare(self, splits, config: TrainConfig, device: torch.device) -> dict:
        corpus = splits.corpus
        high = corpus.train.numel() - config.context - 1
        if high < 1:
            raise ValueError(f"the training block of {corpus.source} holds {corpus.train.numel()} characters, too "
                             f"few for a window of {config.context} + 1; use a longer text or a shorter context")
        return {"train": corpus.train, "val": corpus.val, "test": corpus.test, "high": high,
                "vocab_size": corpus.vocab_size,
                "val_starts": fixed_starts(corpus.val, EVAL_WINDOWS, config.context),
                "test_starts": torch.arange(0, corpus.test.numel() - config.context, config.context)}

    def build(self, config: TrainConfig, data: dict, seed: int) -> torch.nn.Module:
        return build(charlm_config(config, seed), data["vocab_size"])

    def optimizer(self, config: TrainConfig, model: torch.nn.Module):
        if config.optimizer != "adamw":
            raise ValueError(f"the char-lm transformer trains with AdamW (weight decay on matrices only); "
                             f"got optimizer {config.optimizer!r}; use adamw (the char-lm task's default)")
        return make_optimizer(model, charlm_config(config))

    def train_epoch(self, run, data: dict) -> tuple[float, float, int]:
        config, model, optimizer = run.config, run.net, run.optimizer
        schedule = charlm_config(config)
        first = run.epoch * config.steps  # steps taken before this epoch, in all
        model.train()
        losses = torch.zeros(config.steps, dtype=torch.float64)
        done = 0
        for i in range(config.steps):
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(first + i)
            starts = torch.randint(data["high"], (config.batch_size,), generator=run.shuffle)
            x, y = windows(data["train"], starts, config.context)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            run.clip()
            optimizer.step()
            losses[i] = loss.detach()
            done = i + 1
            if done % DIVERGENCE_CHECK == 0 and not torch.isfinite(losses[:done].sum()):
                break
        mean = losses[:done].mean().item()
        return mean, mean / LN2, done * config.batch_size * config.context  # samples: characters predicted

    def evaluate(self, run, data: dict, epoch: int):
        context = run.config.context
        val = bits_per_character(run.net, data["val"], data["val_starts"], context)
        test = bits_per_character(run.net, data["test"], data["test_starts"], context)
        return (val * LN2, val), (test * LN2, test), []

    def check(self, config: TrainConfig, splits) -> None:
        """Refuse, before any training, a corpus too short for the context and a model that cannot be built."""
        corpus = splits.corpus
        shortest = min(corpus.val.numel(), corpus.test.numel())
        if shortest < config.context + 1:
            raise ValueError(f"text corpus {corpus.source}: its 5% validation and test blocks hold {shortest:,} "
                             f"characters, fewer than a window of context {config.context} + 1; pass a longer "
                             f"text (at least {20 * (config.context + 2):,} characters) or a shorter --context")
        self.prepare(splits, config, torch.device("cpu"))
        self.optimizer(config, self.build(config, {"vocab_size": corpus.vocab_size}, 0))


LANGUAGE_MODEL = LanguageModel()
