r"""The ``char-lm`` task: a small character-level transformer whose feed-forward activation is compared.

The model (:class:`CharTransformer`) is a decoder-only transformer in the
GPT-2 layout: token and learned positional embeddings, ``layers`` pre-LayerNorm
blocks (causal self-attention through
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``, then a
feed-forward network ``W_2 f(W_1 x)``), a final LayerNorm and an output layer
tied to the token embedding (one matrix; ``tied=False`` for two). No dropout.
The activation ``f`` is any catalog activation by spec string
(``actlab.get``); a gated unit (GLU, ReGLU, GeGLU, SwiGLU, bilinear) halves
``W_1``'s output, so its hidden width is :func:`hidden_width`: about 2/3 of
the ungated ``4 * width``, so the parameter counts match.

The metric is bits per character: the mean cross-entropy in nats divided by
ln 2, on a fixed set of validation windows during training and on the test
split at the end.

Training (:func:`train_charlm`): random windows as nanoGPT's ``get_batch``,
AdamW (betas 0.9, 0.95; weight decay on matrices only), learning rate with a
linear warm-up then a cosine decay to ``min_lr_ratio`` of the peak, gradient
norm clipped to ``clip_norm`` (1.0). Deterministic for a seed on CPU: the
initial weights and the windows come from generators seeded by the seed.
``actlab compare --task char-lm`` trains the same model with the same
optimizer, schedule and windows through the compare engine, in epochs of
``steps`` steps (:mod:`actlab.compare.objectives_lm`).

Speed on CPU (measured in bench/bench_charlm.py, bench/results/charlm.md):
the step is ~70% matrix multiplications, so what pays is making those cheaper.
``precision="bfloat16"`` (the default ``"auto"`` picks it on a CPU with native
bfloat16 dot products, AVX512-BF16 or AMX) runs the blocks' linear layers on
bfloat16 operands with float32 accumulation, about 2.5x the float32 matmul
rate on such a CPU, while the weights, the optimizer, the residual stream,
LayerNorm, the attention (whose bfloat16 backward on CPU is ~8x slower than
float32's), the compared activation, the output layer and the loss stay
float32: mixed precision, whose loss curve stays within seed noise of the
float32 one (tests/test_charlm.py). Loop overhead is small beside that, but
removed too: the split is one uint8 tensor and a batch is one gather
``data[starts + arange]`` (no Python loop, no ``torch.stack``); losses are kept
in a tensor and read once per evaluation (no ``.item()`` per step); AdamW runs
fused and the clipping foreach.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import get, parse, spec
from ..data.text import Corpus

LN2 = math.log(2.0)
PRECISIONS = ("auto", "float32", "bfloat16")
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bfloat16() -> bool:
    """True when this CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX-BF16; Linux's cpuinfo flags).

    Without them bfloat16 matrix products are emulated and no faster than float32,
    so ``precision="auto"`` keeps float32 there. The check reads flags, not
    timings, so a machine always resolves ``auto`` the same way.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in _NATIVE_BF16_FLAGS)
    except OSError:  # not Linux: no cheap, reliable way to tell; float32 is the safe default
        pass
    return False


def resolve_precision(precision: str) -> str:
    """``"float32"`` or ``"bfloat16"``: ``"auto"`` is bfloat16 where :func:`native_bfloat16`, else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


def is_gated(activation: str) -> bool:
    """True when the catalog activation ``activation`` (a spec string) is a gated unit that halves its input."""
    return bool(getattr(spec(parse(activation)[0]), "gated", False))


def hidden_width(width: int, gated: bool) -> int:
    r"""The feed-forward hidden width: ``4 * width``, or for a gated unit ``8 * round(8 * width / 3 / 8)``.

    Ungated, the two matrices hold :math:`2 \cdot 4d \cdot d = 8d^2` weights;
    gated, :math:`d \cdot 2h + h \cdot d = 3hd`, equal at :math:`h = 8d/3`
    (2/3 of 4d), rounded to the nearest multiple of 8 for the matrix kernels.
    At width 128: 344 (the weights differ by 0.8%).

    Examples:
        >>> hidden_width(128, False), hidden_width(128, True)
        (512, 344)
    """
    if not gated:
        return 4 * width
    return 8 * max(1, round(8 * width / 3 / 8))


class FeedForward(nn.Module):
    """``W_2 f(W_1 x)``; ``W_1`` has twice the hidden width when ``f`` is a gated unit (it halves its input)."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        gated = is_gated(activation)
        hidden = hidden_width(width, gated)
        self.fc_in = nn.Linear(width, 2 * hidden if gated else hidden)
        self.act = get(activation)
        self.fc_out = nn.Linear(hidden, width)

    def forward(self, x):
        # The compared activation always sees float32 (a no-op cast unless fc_in ran on bfloat16 operands).
        return self.fc_out(self.act(self.fc_in(x).float()))


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: one ``qkv`` projection, ``scaled_dot_product_attention``, one output projection."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}; choose heads that divide the width")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).float().view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        with torch.autocast("cpu", enabled=False):  # float32 attention: its bfloat16 backward is ~8x slower on CPU
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: ``x + attn(ln(x))``, then ``x + ffn(ln(x))``."""

    def __init__(self, width: int, heads: int, activation: str):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.ffn = FeedForward(width, activation)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.ffn(self.ln_2(x))


class CharTransformer(nn.Module):
    """A decoder-only character transformer; ``forward(codes)`` gives logits of shape (batch, time, vocab).

    Args:
        vocab_size: number of distinct characters.
        activation: catalog spec string of the feed-forward activation (``"gelu"``, ``"swiglu"``, ``"elu:alpha=0.5"``).
        layers, width, heads, context: depth, model width, attention heads, longest input.
        tied: the output layer shares the token embedding's matrix (default True).
        precision: ``"float32"``, or ``"bfloat16"`` for the blocks' linear layers on bfloat16 operands (float32
            accumulation; everything else float32); ``"auto"`` is :func:`resolve_precision`'s choice. The
            attribute ``precision`` holds the resolved value.

    Initialisation (GPT-2): weights normal(0, 0.02), the residual output
    projections normal(0, 0.02 / sqrt(2 * layers)), biases zero.

    Examples:
        >>> model = CharTransformer(65, "swiglu", layers=2, width=64, heads=4, context=32)
        >>> model(torch.zeros(3, 32, dtype=torch.long)).shape
        torch.Size([3, 32, 65])
    """

    def __init__(self, vocab_size: int, activation: str = "gelu", layers: int = 4, width: int = 128,
                 heads: int = 4, context: int = 128, tied: bool = True, precision: str = "float32"):
        super().__init__()
        self.context = context
        self.precision = resolve_precision(precision)
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads, activation) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        if tied:
            self.head.weight = self.token.weight
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                residual = name.endswith("attn.proj.weight") or name.endswith("ffn.fc_out.weight")
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers) if residual else 0.02)

    def forward(self, codes):
        t = codes.shape[1]
        if t > self.context:
            raise ValueError(f"input of {t} characters is longer than the model's context {self.context}")
        x = self.token(codes) + self.position.weight[:t]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            for block in self.blocks:
                x = block(x)
        # Output layer and loss in float32: bfloat16 logits (8 significant bits) would perturb the loss itself.
        return self.head(self.ln_f(x.float()))


def count_parameters(model: nn.Module) -> int:
    """Distinct trainable parameters (a tied matrix counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class CharLMConfig:
    """One char-lm training run. ``lr`` is the peak; ``steps`` optimizer steps of ``batch_size`` windows of ``context``.

    ``precision``: ``"auto"`` (bfloat16 linear layers where the CPU has native bfloat16 dot products, else
    float32), ``"float32"`` or ``"bfloat16"``; see :class:`CharTransformer`.
    """

    activation: str = "gelu"
    layers: int = 4
    width: int = 128
    heads: int = 4
    context: int = 128
    tied: bool = True
    batch_size: int = 32
    steps: int = 2000
    lr: float = 2e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    clip_norm: float = 1.0
    eval_every: int = 250
    eval_windows: int = 64
    seed: int = 0
    threads: Optional[int] = None
    precision: str = "auto"

    def __post_init__(self):
        get(self.activation)  # validates the spec string before any work
        resolve_precision(self.precision)
        for name in ("layers", "width", "heads", "context", "batch_size", "steps", "eval_every", "eval_windows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "clip_norm"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not (0 <= self.min_lr_ratio <= 1):
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")

    def lr_at(self, step: int) -> float:
        """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        ratio = self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return self.lr * ratio


@dataclass
class CharLMResult:
    """What a run measured: ``history`` rows (step, train_bpc, val_bpc); train_bpc averages the steps since the
    previous row. ``test_bpc``: on the test split after the last step. ``seconds`` (wall), ``cpu_seconds`` (process
    CPU time, all threads) and ``tokens_per_second`` (wall) count the training steps only, not the evaluations.
    ``precision``: what the run used (``config.precision`` resolved), for provenance."""

    config: CharLMConfig
    parameters: int
    history: list = field(default_factory=list)
    test_bpc: float = float("nan")
    seconds: float = 0.0
    tokens_per_second: float = 0.0
    cpu_seconds: float = 0.0
    precision: str = "float32"
    model: Optional[nn.Module] = None


def windows(data: torch.Tensor, starts: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets for windows starting at ``starts``: one gather, no Python loop."""
    rows = data[starts.unsqueeze(1) + torch.arange(context + 1)].long()
    return rows[:, :-1], rows[:, 1:]


def fixed_starts(data: torch.Tensor, count: int, context: int) -> torch.Tensor:
    """``count`` window starts evenly spread over ``data`` (the same for every run: evaluations compare)."""
    last = data.numel() - context - 1
    if last < 0:
        raise ValueError(f"{data.numel()} characters are fewer than a window of {context} + 1")
    return torch.linspace(0, last, min(count, last + 1)).round().long().unique()


@torch.inference_mode()
def bits_per_character(model: nn.Module, data: torch.Tensor, starts: torch.Tensor, context: int,
                       batch: int = 32) -> float:
    """Mean cross-entropy in bits of predicting each next character of the windows at ``starts``."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    for chunk in starts.split(batch):
        x, y = windows(data, chunk, context)
        total += F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="sum").double()
    model.train(was_training)
    return float(total) / (starts.numel() * context) / LN2


def make_optimizer(model: nn.Module, config: CharLMConfig) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.95, fused): weight decay on the matrices and embedding tables, none on biases and LayerNorm."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    rest = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=True)


@contextmanager
def _threads(count: Optional[int]):
    previous = torch.get_num_threads()
    torch.set_num_threads(count or len(os.sched_getaffinity(0)))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def build(config: CharLMConfig, vocab_size: int) -> CharTransformer:
    """The model of ``config``, its initial weights drawn from the seed alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return CharTransformer(vocab_size, config.activation, config.layers, config.width, config.heads,
                               config.context, config.tied, config.precision)


def train_charlm(corpus: Corpus, config: CharLMConfig) -> CharLMResult:
    """Train ``config`` on ``corpus``; evaluate validation bits per character every ``eval_every`` steps.

    Returns:
        A :class:`CharLMResult` with the history, the test bits per character and the training speed.

    Examples:
        >>> from actlab.data.text import load_text
        >>> result = train_charlm(load_text(), CharLMConfig(layers=1, width=32, context=32, steps=20))
        >>> result.history[-1][0]
        20
    """
    model = build(config, corpus.vocab_size)
    optimizer = make_optimizer(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    sampler = torch.Generator().manual_seed(config.seed)
    val_starts = fixed_starts(corpus.val, config.eval_windows, config.context)
    high = corpus.train.numel() - config.context - 1
    if high < 1:
        raise ValueError(f"the training split holds {corpus.train.numel()} characters, too few for a window "
                         f"of {config.context} + 1; use a longer text or a shorter context")
    result = CharLMResult(config=config, parameters=count_parameters(model), precision=model.precision)
    losses = torch.zeros(config.steps)
    train_seconds = train_cpu = 0.0
    with _threads(config.threads):
        since = 0
        start, cpu = time.perf_counter(), time.process_time()
        for step in range(config.steps):
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(step)
            x, y = windows(corpus.train, torch.randint(high, (config.batch_size,), generator=sampler), config.context)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.clip_norm, foreach=True)
            optimizer.step()
            losses[step] = loss.detach()
            done = step + 1
            if done % config.eval_every == 0 or done == config.steps:
                train_seconds += time.perf_counter() - start
                train_cpu += time.process_time() - cpu
                train_bpc = float(losses[since:done].mean()) / LN2  # the one read of the losses per evaluation
                if not math.isfinite(train_bpc):
                    result.history.append((done, train_bpc, float("nan")))
                    break
                val_bpc = bits_per_character(model, corpus.val, val_starts, config.context)
                result.history.append((done, train_bpc, val_bpc))
                since = done
                start, cpu = time.perf_counter(), time.process_time()
        # The whole test split in back-to-back windows (the last partial one left out).
        test_starts = torch.arange(0, corpus.test.numel() - config.context, config.context)
        result.test_bpc = bits_per_character(model, corpus.test, test_starts, config.context)
    result.seconds, result.cpu_seconds = train_seconds, train_cpu
    result.tokens_per_second = since * config.batch_size * config.context / max(train_seconds, 1e-9)
    result.model = model
    return result
