"""The char-lm task trains a real transformer on a slice of the KJV text (../shared/data/text/kjv.txt.gz).

"Real training" is checked against an independent yardstick: the unigram
entropy of the characters, computed here from the corpus counts, is what a
model that ignores context achieves; a trained model must go well below it.
The fast training loop is checked against a plain nanoGPT-style loop written
out here (its own model code, torch's default AdamW, slices and stack), and
its bfloat16 mode against the float32 curve, with seed-to-seed spread as the
yardstick for "within noise".
"""
import functools
import gzip
import math
from collections import Counter

import pytest
import torch

from actlab.data.text import encode
import torch.nn.functional as F
from torch import nn

from actlab.tasks.charlm import (CharLMConfig, CharTransformer, build, count_parameters, hidden_width,
                                 resolve_precision, train_charlm)
from paths import SHARED_DATA

KJV = SHARED_DATA / "text" / "kjv.txt.gz"
TINY = dict(layers=2, width=64, heads=4, context=64, batch_size=16, steps=300, lr=3e-3, warmup=30,
            eval_every=100, threads=1)


@pytest.fixture(scope="module")
def kjv_slice():
    with gzip.open(KJV, "rt", encoding="utf-8") as f:
        text = f.read(300_000)
    return text, encode(text, "kjv slice")


@functools.lru_cache(maxsize=None)
def tiny_run(activation: str, precision: str, seed: int = 0):
    """A TINY training run on the KJV slice, shared between tests (keyed by the resolved precision)."""
    with gzip.open(KJV, "rt", encoding="utf-8") as f:
        corpus = encode(f.read(300_000), "kjv slice")
    return train_charlm(corpus, CharLMConfig(activation=activation, precision=precision, seed=seed, **TINY))


def unigram_entropy_bits(text: str) -> float:
    counts = Counter(text)
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@pytest.mark.parametrize("activation", ["gelu", "swiglu"])
def test_loss_falls_well_below_unigram_entropy(kjv_slice, activation):
    text, corpus = kjv_slice
    entropy = unigram_entropy_bits(text[:len(corpus.train)])
    assert 4.2 < entropy < 4.6  # English text: about 4.1-4.5 bits per character
    result = tiny_run(activation, resolve_precision("auto"))  # the default precision
    steps, train_bpc, val_bpc = zip(*result.history)
    assert steps == (100, 200, 300)
    assert val_bpc[-1] < entropy - 1.0, (activation, result.history, entropy)
    assert val_bpc[-1] < val_bpc[0]
    assert result.test_bpc < entropy - 1.0
    assert result.tokens_per_second > 0


def test_gated_hidden_width_matches_parameters():
    # Closed form: ungated 2 * 4d * d weights, gated 3 * h * d; equal at h = 8d/3.
    assert hidden_width(128, gated=False) == 512
    assert abs(hidden_width(128, gated=True) - 8 * 128 / 3) <= 4
    assert hidden_width(128, gated=True) % 8 == 0
    ungated = count_parameters(CharTransformer(73, "gelu"))
    for gated in ("swiglu", "geglu", "reglu", "glu", "bilinear"):
        n = count_parameters(CharTransformer(73, gated))
        assert abs(n - ungated) / ungated < 0.02, (gated, n, ungated)
    # Default shape: 4 layers of width 128, 4 heads, context 128, tied output.
    model = CharTransformer(73, "gelu")
    d, layers = 128, 4
    per_block = (2 * 2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    assert ungated == 73 * d + 128 * d + layers * per_block + 2 * d
    assert model.head.weight is model.token.weight


def test_causal_no_peeking_at_future_characters():
    model = CharTransformer(20, "relu", layers=2, width=32, heads=4, context=16).eval()
    x = torch.randint(20, (2, 16), generator=torch.Generator().manual_seed(1))
    changed = x.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 20
    with torch.no_grad():
        assert torch.equal(model(x)[:, :10], model(changed)[:, :10])


def test_deterministic_for_a_seed(kjv_slice):
    _, corpus = kjv_slice
    small = dict(TINY, steps=40, eval_every=20)
    first = train_charlm(corpus, CharLMConfig(activation="reglu", seed=3, **small))
    again = train_charlm(corpus, CharLMConfig(activation="reglu", seed=3, **small))
    other = train_charlm(corpus, CharLMConfig(activation="reglu", seed=4, **small))
    assert first.history == again.history and first.test_bpc == again.test_bpc
    assert first.history != other.history


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="unknown activation"):
        CharLMConfig(activation="gelus")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        CharLMConfig(steps=0)
    with pytest.raises(ValueError, match="not divisible by heads"):
        CharTransformer(10, "relu", width=30, heads=4)
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
        CharLMConfig(precision="float16")


class PlainGPT(nn.Module):
    """The model as nanoGPT writes it (its names, split-view-transpose attention, nn.Sequential MLP, tied head)."""

    def __init__(self, vocab, layers, width, heads):
        super().__init__()
        self.heads, self.width = heads, width
        self.wte, self.wpe = nn.Embedding(vocab, width), nn.Embedding(TINY["context"], width)
        self.h = nn.ModuleList(nn.ModuleDict(dict(
            ln_1=nn.LayerNorm(width), c_attn=nn.Linear(width, 3 * width), c_proj=nn.Linear(width, width),
            ln_2=nn.LayerNorm(width),
            mlp=nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))))
            for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.wte.weight = self.lm_head.weight

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            q, k, v = b.c_attn(b.ln_1(x)).split(self.width, dim=2)
            q, k, v = (t.view(B, T, self.heads, -1).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + b.c_proj(y.transpose(1, 2).contiguous().view(B, T, self.width))
            x = x + b.mlp(b.ln_2(x))
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


NAMES = [("token.", "wte."), ("position.", "wpe."), ("blocks.", "h."), ("attn.qkv", "c_attn"),
         ("attn.proj", "c_proj"), ("ffn.fc_in", "mlp.0"), ("ffn.fc_out", "mlp.2"), ("head.", "lm_head.")]


@pytest.mark.parametrize("precision, tolerance", [("float32", 1e-5), ("bfloat16", 5e-3)])
def test_fast_loop_computes_the_plain_loops_losses(kjv_slice, precision, tolerance):
    # Same initial weights, same windows, same schedule: the per-step losses of actlab's loop equal those of
    # a plain nanoGPT-style loop in float32 (to float rounding; bfloat16 linear layers to a few thousandths).
    _, corpus = kjv_slice
    config = CharLMConfig(activation="gelu", precision=precision, **dict(TINY, steps=6, warmup=3, eval_every=1,
                                                                          eval_windows=1, seed=5))
    fast = [train_bpc * math.log(2) for _, train_bpc, _ in train_charlm(corpus, config).history]

    state = build(config, corpus.vocab_size).state_dict()  # the initial weights of the fast run
    for old, new in NAMES:
        state = {name.replace(old, new): value for name, value in state.items()}
    model = PlainGPT(corpus.vocab_size, config.layers, config.width, config.heads)
    model.load_state_dict(state)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.95))
    generator, T = torch.Generator().manual_seed(config.seed), config.context
    data = corpus.train.long()
    plain = []
    for step in range(config.steps):
        # Linear warm-up to the peak over `warmup` steps; cosine decay to 10% follows (not reached in 6 steps).
        progress = max(0, step - config.warmup) / (config.steps - config.warmup)
        lr = config.lr * min((step + 1) / config.warmup, 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        ix = torch.randint(len(data) - T - 1, (config.batch_size,), generator=generator)
        x = torch.stack([data[i:i + T] for i in ix])
        y = torch.stack([data[i + 1:i + 1 + T] for i in ix])
        loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        plain.append(loss.item())
    assert plain[-1] < plain[0] - 0.1  # it trains: the comparison is not between two frozen models
    assert fast == pytest.approx(plain, rel=tolerance, abs=tolerance), (precision, fast, plain)


def test_bfloat16_curve_is_within_seed_noise_of_float32():
    # bfloat16 linear layers must not change the study's numbers beyond what the seed already changes.
    fp32, bf16, other_seed = tiny_run("gelu", "float32"), tiny_run("gelu", "bfloat16"), tiny_run("gelu", "float32", 1)
    assert bf16.precision == "bfloat16" and fp32.precision == "float32"
    seed_noise = max(abs(a[2] - b[2]) for a, b in zip(fp32.history, other_seed.history))
    deviation = max(abs(a[2] - b[2]) for a, b in zip(fp32.history, bf16.history))
    assert 0.005 < seed_noise < 0.2  # two seeds of a real training differ by a few hundredths of a bit
    assert deviation < seed_noise / 4, (deviation, seed_noise, fp32.history, bf16.history)
    assert abs(fp32.test_bpc - bf16.test_bpc) < seed_noise / 4
