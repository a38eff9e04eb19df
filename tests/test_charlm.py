"""The char-lm task trains a real transformer on a slice of the KJV text (../shared/data/text/kjv.txt.gz).

"Real training" is checked against an independent yardstick: the unigram
entropy of the characters, computed here from the corpus counts, is what a
model that ignores context achieves; a trained model must go well below it.
"""
import gzip
import math
from collections import Counter

import pytest
import torch

from actlab.data.text import encode
from actlab.tasks.charlm import CharLMConfig, CharTransformer, count_parameters, hidden_width, train_charlm
from paths import SHARED_DATA

KJV = SHARED_DATA / "text" / "kjv.txt.gz"
TINY = dict(layers=2, width=64, heads=4, context=64, batch_size=16, steps=300, lr=3e-3, warmup=30,
            eval_every=100, threads=1)


@pytest.fixture(scope="module")
def kjv_slice():
    with gzip.open(KJV, "rt", encoding="utf-8") as f:
        text = f.read(300_000)
    return text, encode(text, "kjv slice")


def unigram_entropy_bits(text: str) -> float:
    counts = Counter(text)
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@pytest.mark.parametrize("activation", ["gelu", "swiglu"])
def test_loss_falls_well_below_unigram_entropy(kjv_slice, activation):
    text, corpus = kjv_slice
    entropy = unigram_entropy_bits(text[:len(corpus.train)])
    assert 4.2 < entropy < 4.6  # English text: about 4.1-4.5 bits per character
    result = train_charlm(corpus, CharLMConfig(activation=activation, **TINY))
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
