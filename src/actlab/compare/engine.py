"""The training engine of ``actlab compare``: train one configuration over several seeds, fast.

Speed comes from two places. Outside the maths: the splits stay in memory as
tensors, an epoch is a random permutation of row indices (one
``index_select`` per batch, no per-sample Python and no collate), loss and
accuracy are summed into tensors and read once per epoch, gradients are
clipped with one foreach clamp, and validation and test are evaluated in one
pass under ``torch.inference_mode`` (on CPU in batches of 128, whose tensors
reuse already-mapped memory). Inside it: the model is trained through
:func:`actlab.models.accelerate` (the same function, computed with
channels_last convolutions that switch back to row-major once before the
flatten, max pooling before a non-decreasing activation and dropout masks
from random bytes; off with ``fast=False`` and while diagnostics watch the
original layers). Around it: :func:`steady_allocator`, which every study's
training task calls, stops glibc from handing the activations' memory back
to the system after every step. Measured and not adopted (see
bench/results/training.md): torch.compile, stacking the seeds into one vmapped
model, im2col or shifted-GEMM convolution gradients, Winograd and fused Adam.

Reproducibility: every run owns its random streams, derived from its seed
alone: the initial weights, the shuffling (a ``torch.Generator``) and the
global RNG state that dropout and RReLU draw from, which is installed for the
run's own steps and saved afterwards. A run therefore gives the same numbers
whichever other seeds share its group, and whether it is run again alone
(bit-for-bit on CPU: runs of a group are trained one after another, never
batched into one model, see the benchmark notes for why). Because the streams
depend on the seed and not on the activation, every activation sees the same
shuffling order for a given seed, which makes paired comparisons sharper.
"""
from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import label
from ..models import KINDS, SCHEMES, accelerate, build_model

OPTIMIZERS = ("adam", "adamw", "sgd")
# Evaluation batch: large on GPUs; on CPUs the training batch size's scale, whose tensors stay below
# glibc's mmap threshold and so reuse memory that is already mapped (batch 1000 on the seed CNN cost
# 0.79 s per 1000 images against 0.40 s at 128, half of it page faults; bench/results/training.md).
EVAL_BATCH = {"cpu": 128, "cuda": 1000}
# Reading a finite-check every step would cost a device sync on GPUs; every
# DIVERGENCE_CHECK steps (and at the end of each epoch) is cheap and soon enough.
DIVERGENCE_CHECK = 20
# Fields that say where and how fast a run happens, not what it computes.
BOOKKEEPING = ("device", "threads")
# The model family of the language-model objective (actlab.tasks.charlm's transformer).
LM_MODEL = "char-transformer"
# Fields the language-model and regression objectives added, with their defaults: left out of the digest
# (and of a study's stored configs, compare.sweep) while at these values, so classification studies and their
# checkpoints keep the keys and ids they had before these fields existed.
EXTRA_DEFAULTS = {"steps": 0, "context": 128, "heads": 4, "target": ""}


@dataclass
class TrainConfig:
    """Everything that defines one training run (one activation, one seed).

    ``clip_value`` clips every gradient element to [-v, v] (Keras' clipvalue);
    ``clip_norm`` rescales the whole gradient to norm at most c (per model and
    seed); with both, the norm is clipped first. ``threads``: intra-op threads
    (None: every core this process may use).

    The language-model and regression objectives (:mod:`.objectives`) read
    more: ``steps`` optimizer steps per epoch (0, classification: one pass
    over the training data), ``context`` and ``heads`` (the transformer of
    ``model="char-transformer"``, whose ``depth`` is its number of blocks),
    and ``target`` (a name in :data:`actlab.tasks.fit.TARGETS`: the run is a
    regression). :attr:`kind` says which objective trains the run.
    """

    model: str = "cnn"
    activation: str = "relu"
    seed: int = 0
    epochs: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    clip_value: Optional[float] = 0.5
    clip_norm: Optional[float] = None
    optimizer: str = "adam"
    batchnorm: bool = False
    init: str = "auto"
    width: int = 128
    depth: int = 2
    dropout: bool = True
    device: str = "cpu"
    threads: Optional[int] = None
    steps: int = 0
    context: int = 128
    heads: int = 4
    target: str = ""

    def __post_init__(self):
        self.activation = label(self.activation)  # validates; also makes 'ELU' and 'elu' one key
        if self.model not in KINDS and self.model != LM_MODEL and ":" not in self.model:
            raise ValueError(f"model {self.model!r}: expected 'cnn', 'mlp' or a factory 'PKG.MODULE:FUNC' (also "
                             f"'plain-mlp', or '{LM_MODEL}' for the char-lm task)")
        for name in ("seed", "epochs", "batch_size", "width", "depth", "steps", "context", "heads"):
            value = getattr(self, name)
            low = 0 if name in ("seed", "steps") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        for name in ("clip_value", "clip_norm"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number or None (no clipping), got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not supported; expected one of {', '.join(OPTIMIZERS)}")
        if self.init not in SCHEMES:
            raise ValueError(f"init {self.init!r} is not a scheme; expected one of {', '.join(SCHEMES)}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None (all cores), got {self.threads!r}")
        if not isinstance(self.target, str):
            raise ValueError(f"target must be the name of a fit target (a string), got {self.target!r}")
        if self.kind == "language-model" and self.steps < 1:
            raise ValueError(f"model {LM_MODEL!r} trains `steps` optimizer steps per epoch; give steps >= 1 "
                             f"(got {self.steps})")
        if self.kind == "regression" and self.steps < 1:
            raise ValueError(f"a fit (target {self.target!r}) trains `steps` full-batch steps per epoch; give "
                             f"steps >= 1 (got {self.steps})")

    @property
    def kind(self) -> str:
        """The task kind this run trains (actlab.tasks.KINDS): 'language-model' for the char transformer,
        'regression' when a fit ``target`` is set, else 'classification'."""
        if self.model == LM_MODEL:
            return "language-model"
        return "regression" if self.target else "classification"

    def _digest(self, drop: tuple[str, ...]) -> str:
        values = {k: v for k, v in dataclasses.asdict(self).items()
                  if k not in drop and not (k in EXTRA_DEFAULTS and v == EXTRA_DEFAULTS[k])}
        text = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def key(self) -> str:
        """Stable hash of what the run computes (seed included; device and threads left out)."""
        return self._digest(BOOKKEEPING)

    def group_key(self) -> str:
        """Like :meth:`key` without the seed: equal for configs that ``train_group`` may train together."""
        return self._digest(BOOKKEEPING + ("seed",))


@dataclass
class EpochRecord:
    """What one epoch of one run measured.

    ``*_loss`` is the training loss, ``*_acc`` the task's metric
    (:mod:`actlab.results.metric`): for classification mean categorical
    cross-entropy and accuracy in [0, 1]; for a language model cross-entropy
    in nats and bits per character; for a fit mean squared error and RMSE
    outside the training box (:mod:`.objectives`).
    ``train_*`` are averaged over the epoch's steps as they happened (dropout
    on, weights changing), like Keras' running numbers; validation and test
    are evaluated after the epoch in eval mode. ``seconds``: wall time of the
    epoch's training and evaluation. ``samples``: training samples seen so far.
    ``diverged``: the loss became NaN or infinite during this epoch (in
    training, or on the validation or test data after it); the run stopped
    there and the record's losses are not all finite.
    """

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    test_loss: float
    test_acc: float
    seconds: float
    samples: int
    layers: list = field(default_factory=list)
    diverged: bool = False
    checkpoint: Optional[bytes] = None  # the run's state after this epoch (train_group(checkpoints=True))


def derived_seed(seed: int, purpose: str) -> int:
    """An independent 63-bit seed for one purpose ('init', 'shuffle', 'dropout') of a run."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}".encode()).digest()[:8], "big") >> 1


def _make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr)
    return torch.optim.SGD(params, lr=config.lr, momentum=0.9)


class _Run:
    """One seed's model, optimizer and private random streams; ``objective`` builds the model and optimizer."""

    def __init__(self, config: TrainConfig, objective, data: dict, fast: bool):
        self.config = config
        device = torch.device(config.device)
        self.model = objective.build(config, data, derived_seed(config.seed, "init")).to(device)
        # ``net`` computes what ``model`` does and shares its parameters; training and evaluation run through it.
        self.net = accelerate(self.model) if fast else self.model
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = objective.optimizer(config, self.model) or _make_optimizer(config, self.params)
        # The shuffling order (or the language model's windows): from the seed alone, so every activation
        # of a seed sees the same data in the same order (a paired design).
        self.shuffle = torch.Generator(device="cpu").manual_seed(derived_seed(config.seed, "shuffle"))
        dropout_seed = derived_seed(config.seed, "dropout")
        self.rng_state = {"cpu": torch.Generator().manual_seed(dropout_seed).get_state()}
        if device.type == "cuda":
            self.rng_state["cuda"] = torch.Generator(device=device).manual_seed(dropout_seed).get_state()
        self.samples = 0
        self.diverged = False
        self.epoch = 0  # epochs trained so far (more than 0 after restore)

    def checkpoint(self) -> bytes:
        """Everything the next epoch depends on: weights and buffers, optimizer state, the shuffling
        generator, the dropout RNG state and the counters. Restored, the run continues bit for bit (CPU)."""
        import io

        buffer = io.BytesIO()
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "shuffle": self.shuffle.get_state(), "rng": self.rng_state, "samples": self.samples,
                    "epoch": self.epoch, "key": self.config.key()}, buffer)
        return buffer.getvalue()

    def restore(self, blob: bytes) -> None:
        """Continue from a :meth:`checkpoint` of a run with the same configuration and seed."""
        import io

        state = torch.load(io.BytesIO(blob), map_location=self.config.device, weights_only=True)
        if state["key"] != self.config.key():
            raise ValueError(f"checkpoint of another configuration (key {state['key']}, expected "
                             f"{self.config.key()}); delete it to start this run over")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.shuffle.set_state(state["shuffle"])
        self.rng_state = state["rng"]
        self.samples, self.epoch = state["samples"], state["epoch"]

    def clip(self) -> None:
        if self.config.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.clip_norm)
        if self.config.clip_value is not None:
            grads = [p.grad for p in self.params if p.grad is not None]
            torch._foreach_clamp_min_(grads, -self.config.clip_value)
            torch._foreach_clamp_max_(grads, self.config.clip_value)


@contextmanager
def _private_rng(device: torch.device, state: dict):
    """Run the body with ``state`` (a run's own RNG states) installed as the global RNG state; on leaving,
    save the run's advanced states into the yielded dict and put the caller's states back."""
    cuda = device.type == "cuda"
    saved_cpu = torch.get_rng_state()
    saved_cuda = torch.cuda.get_rng_state(device) if cuda else None
    torch.set_rng_state(state["cpu"])
    if cuda:
        torch.cuda.set_rng_state(state["cuda"], device)
    out: dict = {}
    try:
        yield out
    finally:
        out["cpu"] = torch.get_rng_state()
        if cuda:
            out["cuda"] = torch.cuda.get_rng_state(device)
        torch.set_rng_state(saved_cpu)
        if cuda:
            torch.cuda.set_rng_state(saved_cuda, device)


def _train_epoch(run: _Run, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> tuple[float, float, int]:
    """One pass over (x, y) in a fresh order; returns (mean loss, accuracy, samples trained on)."""
    model, optimizer = run.net, run.optimizer
    model.train()
    n = y.shape[0]
    order = torch.randperm(n, generator=run.shuffle).to(y.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=y.device)
    correct = torch.zeros((), dtype=torch.int64, device=y.device)
    seen = 0
    for step, start in enumerate(range(0, n, batch_size), 1):
        idx = order[start:start + batch_size]
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.clip()
        optimizer.step()
        loss_sum += loss.detach() * idx.shape[0]
        correct += (logits.detach().argmax(1) == yb).sum()
        seen += idx.shape[0]
        if step % DIVERGENCE_CHECK == 0 and not torch.isfinite(loss_sum):
            break
    return loss_sum.item() / seen, correct.item() / seen, seen


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: Optional[int] = None,
             sizes: Optional[list[int]] = None) -> list[tuple[float, float]]:
    """(mean cross-entropy, accuracy) of ``model`` in eval mode, for each consecutive part of (x, y) of the
    given ``sizes`` (default: one part, all of it). Several evaluation sets concatenated once and evaluated
    in one pass cost fewer, fuller batches than one pass each. ``batch_size`` defaults to
    ``EVAL_BATCH`` for the data's device type."""
    sizes = [y.shape[0]] if sizes is None else sizes
    batch_size = batch_size or EVAL_BATCH.get(y.device.type, EVAL_BATCH["cuda"])
    model.eval()
    losses = torch.empty(y.shape[0], dtype=torch.float64, device=y.device)
    hits = torch.empty(y.shape[0], dtype=torch.bool, device=y.device)
    with torch.inference_mode():
        for start in range(0, y.shape[0], batch_size):
            logits = model(x[start:start + batch_size])
            yb = y[start:start + batch_size]
            losses[start:start + yb.shape[0]] = F.cross_entropy(logits, yb, reduction="none")
            hits[start:start + yb.shape[0]] = logits.argmax(1) == yb
    out = []
    for loss_part, hit_part in zip(losses.split(sizes), hits.split(sizes)):
        n = max(loss_part.shape[0], 1)
        out.append((loss_part.sum().item() / n, hit_part.sum().item() / n))
    return out


class Classification:
    """The classification objective: cross-entropy, accuracy; an epoch is one pass in a fresh order.

    The other objectives (:mod:`.objectives`) have the same five members:
    ``kind``; ``fast`` (whether :func:`actlab.models.accelerate` may compute
    the model); ``prepare(splits, config, device)``, the data every run of a
    group shares; ``build(config, data, seed)``, the model with its initial
    weights from ``seed``; ``optimizer(config, model)`` (None: the engine's
    ``config.optimizer``); ``train_epoch(run, data)`` -> (mean loss, metric,
    samples); ``evaluate(run, data, epoch)`` -> ((val loss, val metric),
    (test loss, test metric), extra per-epoch rows for ``EpochRecord.layers``).
    """

    kind = "classification"
    fast = True

    def prepare(self, splits, config: TrainConfig, device: torch.device) -> dict:
        data = {name: getattr(splits, name).to(device) for name in ("train_x", "train_y")}
        data["eval_x"] = torch.cat([splits.val_x, splits.test_x]).to(device)
        data["eval_y"] = torch.cat([splits.val_y, splits.test_y]).to(device)
        data["eval_sizes"] = [splits.val_y.shape[0], splits.test_y.shape[0]]
        data["in_shape"], data["num_classes"] = tuple(data["train_x"].shape[1:]), len(splits.classes)
        return data

    def build(self, config: TrainConfig, data: dict, seed: int) -> nn.Module:
        return build_model(config.model, config.activation, in_shape=data["in_shape"],
                           num_classes=data["num_classes"], depth=config.depth, width=config.width,
                           batchnorm=config.batchnorm, init=config.init, dropout=config.dropout, seed=seed)

    def optimizer(self, config: TrainConfig, model: nn.Module):
        return None

    def train_epoch(self, run: _Run, data: dict) -> tuple[float, float, int]:
        return _train_epoch(run, data["train_x"], data["train_y"], run.config.batch_size)

    def evaluate(self, run: _Run, data: dict, epoch: int):
        val, test = evaluate(run.net, data["eval_x"], data["eval_y"], sizes=data["eval_sizes"])
        return val, test, []


CLASSIFICATION = Classification()


@contextmanager
def _diagnosed(run: _Run, layers: list):
    """The diagnostics hook: ``actlab.diagnose`` watches the body (one epoch's training steps, not the
    evaluation passes) and appends its per-layer summary to ``layers`` (``EpochRecord.layers``)."""
    from ..diagnose import diagnose, epoch_summary

    with diagnose(run.model, optimizer=run.optimizer) as d:
        yield
        layers.extend(epoch_summary(d))


def _check_group(configs: list[TrainConfig]) -> None:
    if not configs:
        raise ValueError("train_group needs at least one TrainConfig")
    reference = dataclasses.replace(configs[0], seed=0)
    for c in configs[1:]:
        if dataclasses.replace(c, seed=0) != reference:
            raise ValueError("train_group trains configs that differ only in their seed; group runs by "
                             "TrainConfig.group_key() and call it once per group")


@functools.cache  # once per process: the setting is process-wide and stays
def steady_allocator() -> bool:
    """Make this process keep the memory it frees for reuse (glibc on Linux); True when it took effect.

    By default glibc returns large freed blocks to the system (``munmap`` or a
    heap trim), so every training step maps its activations afresh and pays a
    page fault per 4 KiB page on first touch: a median ~4,600-5,500 faults
    per step of the seed CNN at batch 128 on the 2-core benchmark machine,
    3-15% of the step depending on the load. With a fixed mmap threshold of
    32 MiB (glibc's maximum default) and a trim threshold of 1 GiB, blocks
    below 32 MiB come from the heap and stay there, and steps fault a median
    ~200-400 times (bench/results/training.md). The cost: the process keeps its
    peak heap until it exits. :func:`actlab.compare.training.train_unit` (every
    study's training task, in-process or in a worker) calls this; library
    code calling :func:`train_group` directly may call it too. Set
    ``ACTLAB_MALLOC=default`` to leave the allocator alone.
    """
    if not sys.platform.startswith("linux") or os.environ.get("ACTLAB_MALLOC", "").lower() == "default":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's (and this process's) allocator
    except (OSError, AttributeError):  # another C library, or no mallopt
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))


@contextmanager
def _threads(count: Optional[int]):
    previous = torch.get_num_threads()
    wanted = count or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_group(configs: list[TrainConfig], splits, on_epoch: Callable[[int, EpochRecord], None],
                diagnostics: bool = False, *, fast: bool = True, resume=None,
                checkpoints: bool = False, until: Optional[int] = None, objective=None) -> list[list[EpochRecord]]:
    """Train ``configs`` (equal except for the seed) on ``splits``; call ``on_epoch(index, record)`` after
    every epoch of every run and return each run's records.

    The runs advance epoch by epoch together, so an interrupted group has
    finished the same epochs for all its seeds. A run whose loss becomes NaN
    or infinite stops: its last record has ``diverged=True`` and the others
    go on. ``fast``: train through :func:`actlab.models.accelerate` (the same
    function, computed faster); it is off while ``diagnostics`` hook the layers.
    ``resume``: per config, None or a checkpoint (``EpochRecord.checkpoint``)
    to continue from after its epoch; ``checkpoints``: attach one to every
    record (about the size of the weights plus the optimizer state).
    ``until``: train no further than this epoch in this call (None: to the
    configs' ``epochs``); the record of epoch ``until`` then carries the
    checkpoint a later call resumes from, so a study can train in rounds
    (a rung of successive halving, a look of racing) on any executor.
    ``objective``: what a step and an evaluation are, for the configs' kind
    (:func:`actlab.compare.objectives.objective_of`); None: classification.
    """
    _check_group(configs)
    first = configs[0]
    objective = objective or CLASSIFICATION
    if objective.kind != first.kind:
        raise ValueError(f"the configs train a {first.kind} task but the objective is {objective.kind}'s; pass "
                         "objective=actlab.compare.objectives.objective_of(config)")
    device = torch.device(first.device)
    history: list[list[EpochRecord]] = [[] for _ in configs]
    with _threads(first.threads):
        data = objective.prepare(splits, first, device)
        runs = [_Run(c, objective, data, fast and objective.fast and not diagnostics) for c in configs]
        for run, blob in zip(runs, resume or [None] * len(runs)):
            if blob is not None:
                run.restore(blob)
        last = first.epochs if until is None else min(int(until), first.epochs)
        for epoch in range(1, last + 1):
            for index, run in enumerate(runs):
                if run.diverged or run.epoch >= epoch:
                    continue
                record = _run_epoch(run, objective, epoch, data, diagnostics, device)
                run.epoch = epoch
                if checkpoints and not record.diverged and epoch < first.epochs:  # a finished run needs none
                    record.checkpoint = run.checkpoint()
                history[index].append(record)
                on_epoch(index, record)
    return history


def _run_epoch(run: _Run, objective, epoch: int, data: dict, diagnostics: bool,
               device: torch.device) -> EpochRecord:
    start = time.perf_counter()
    layers: list[dict] = []
    with _private_rng(device, run.rng_state) as state, \
            (_diagnosed(run, layers) if diagnostics else nullcontext()):
        train_loss, train_acc, seen = objective.train_epoch(run, data)
    run.rng_state = state
    run.samples += seen
    (val_loss, val_acc), (test_loss, test_acc), extra = objective.evaluate(run, data, epoch)
    layers.extend(extra)
    # The epoch's last step can blow the weights up after its own (finite) loss was taken: the evaluation
    # then sees NaN logits, whose argmax is class 0. Such a network diverged; it is not a trained one.
    run.diverged = not all(map(math.isfinite, (train_loss, val_loss, test_loss)))
    return EpochRecord(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                       val_acc=val_acc, test_loss=test_loss, test_acc=test_acc,
                       seconds=time.perf_counter() - start, samples=run.samples, layers=layers,
                       diverged=run.diverged)
