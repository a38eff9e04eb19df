"""A character corpus for language modelling: any UTF-8 text file, plain or gzip, as one tensor of codes.

``text:FILE`` names a corpus (:func:`parse_text_spec`); :func:`load_text`
reads it, builds the character vocabulary (the distinct characters, sorted by
code point) and encodes the whole text as one ``uint8`` tensor (``int16``
above 256 distinct characters), so a batch is one indexing operation.

Split: three contiguous blocks in reading order, train the first 90%,
validation the next 5%, test the last 5% (as nanoGPT splits Shakespeare).
Contiguous rather than interleaved, because windows that straddle a split
would leak text from one split into another; the cost is that the test text
(the end of the book) may differ in style from the start.

Provenance: the SHA-256 of the decompressed bytes, so a gzip and a plain copy
of one text are the same corpus.

With no file given, :func:`load_text` uses the text the package embeds:
Genesis 1-6 of the King James Version (public domain; 20,305 characters, the
first lines of the KJV text in the project's shared data). It is enough to
check that training runs, not for a study: pass ``text:FILE`` for that.
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .errors import DataError

PREFIX = "text:"
EMBEDDED = "kjv-genesis.txt"
SPLIT = (0.90, 0.05, 0.05)  # train, validation, test: contiguous blocks in this order
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Corpus:
    """A text encoded as character codes, split into train/validation/test blocks.

    ``vocab``: the distinct characters, sorted; code i is ``vocab[i]``.
    ``train``, ``val``, ``test``: 1-D integer tensors of codes (views of one tensor).
    ``sha256``: of the decompressed UTF-8 bytes. ``source``: the path, or
    ``"embedded:kjv-genesis.txt"``.
    """

    source: str
    sha256: str
    vocab: str
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def decode(self, codes) -> str:
        """The text of a sequence of codes."""
        return "".join(self.vocab[int(i)] for i in codes)


def parse_text_spec(spec: str) -> Optional[str]:
    """The file of a ``text:FILE`` dataset spec; None for ``text`` or ``text:`` alone (the embedded text).

    Examples:
        >>> parse_text_spec("text:corpus.txt.gz")
        'corpus.txt.gz'
    """
    if spec == "text" or spec == PREFIX:
        return None
    if not spec.startswith(PREFIX):
        raise DataError(f"dataset {spec!r} is not a text corpus; expected 'text:FILE' (any UTF-8 text, plain or gzip)")
    return spec[len(PREFIX):]


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataError(f"text corpus {path} does not exist; expected a UTF-8 text file (plain or .gz). "
                        f"Fix the path in text:FILE.")
    if not path.is_file():
        raise DataError(f"text corpus {path} is not a file; expected a UTF-8 text file (plain or .gz)")
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:  # by content, not by name: a .gz that is plain text still reads
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"text corpus {path} starts like gzip but does not decompress ({error}); "
                            f"expected a complete .gz file or plain text. Re-create the file.") from None
    return raw


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"text corpus {source} is not UTF-8: byte {error.start} ({raw[error.start]:#04x}) "
                        f"does not decode; expected UTF-8 text. Convert it, e.g. "
                        f"'iconv -f latin1 -t utf-8 FILE > FILE.utf8'.") from None


def encode(text: str, source: str, min_split_chars: int = 2) -> Corpus:
    """Encode ``text`` and split it (90/5/5, contiguous); each split must hold ``min_split_chars`` or more."""
    if not text:
        raise DataError(f"text corpus {source} is empty; expected UTF-8 text")
    needed = max(min_split_chars, 2)
    shortest = min(int(len(text) * SPLIT[1]), len(text) - int(len(text) * (SPLIT[0] + SPLIT[1])))
    if shortest < needed:
        minimum = int(needed / SPLIT[1]) + 2
        raise DataError(f"text corpus {source} is too short: {len(text):,} characters, so the 5% validation and "
                        f"test blocks hold {shortest} each, fewer than the {needed} a window needs; expected at "
                        f"least {minimum:,} characters. Pass a longer text, or a shorter context.")
    # One code point per 4 bytes, then sorted unique code points and each character's index among them:
    # vectorised, ~0.1 s for the 4.3 M characters of the KJV where a per-character dict lookup takes ~1 s.
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    unique, inverse = np.unique(points, return_inverse=True)
    vocab = "".join(map(chr, unique.tolist()))
    dtype = torch.uint8 if len(vocab) <= 256 else torch.int16 if len(vocab) <= 32767 else torch.int32
    codes = torch.from_numpy(inverse.reshape(-1).astype(np.int32)).to(dtype)
    n_train = int(len(text) * SPLIT[0])
    n_val = int(len(text) * SPLIT[1])
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Corpus(source=source, sha256=sha, vocab=vocab, train=codes[:n_train],
                  val=codes[n_train:n_train + n_val], test=codes[n_train + n_val:])


def load_text(path=None, min_split_chars: int = 2) -> Corpus:
    """Read a UTF-8 text (plain or gzip, told apart by content) into a :class:`Corpus`.

    Args:
        path: the file; None for the embedded Genesis 1-6 (KJV).
        min_split_chars: the fewest characters the validation and test blocks may
            hold (a model with context T needs T + 1).

    Returns:
        The corpus, split 90/5/5 in contiguous blocks.

    Raises:
        DataError: the file is missing, not gzip-complete, not UTF-8, empty or too short.

    Examples:
        >>> corpus = load_text()
        >>> corpus.vocab_size, corpus.source
        (64, 'embedded:kjv-genesis.txt')
    """
    if path is None:
        raw = resources.files("actlab.data").joinpath("embedded", EMBEDDED).read_bytes()
        source = f"embedded:{EMBEDDED}"
    else:
        file = Path(path).expanduser()
        raw = _read_bytes(file)
        source = str(file)
    return encode(_decode(raw, source), source, min_split_chars)


@dataclass(frozen=True)
class TextSplits:
    """A corpus as a study's data (``actlab compare --dataset text:FILE``): the corpus, what a study records
    about it (``provenance``: the dataset spec, the file, the SHA-256 of its text), and the blocks' lengths
    as ``train_y``, ``val_y``, ``test_y`` (the character codes) with the vocabulary as ``classes``."""

    dataset: str
    corpus: Corpus

    @property
    def train_y(self) -> torch.Tensor:
        return self.corpus.train

    @property
    def val_y(self) -> torch.Tensor:
        return self.corpus.val

    @property
    def test_y(self) -> torch.Tensor:
        return self.corpus.test

    @property
    def classes(self) -> list:
        return list(self.corpus.vocab)

    def describe(self) -> str:
        """One line on what a study trains on (``actlab compare`` prints it before training)."""
        return (f"data: {self.dataset}: {len(self.train_y):,} train, {len(self.val_y):,} validation, "
                f"{len(self.test_y):,} test characters ({self.corpus.vocab_size} distinct), from "
                f"{self.provenance['source']} (text's SHA-256 recorded)")

    @property
    def provenance(self) -> dict:
        embedded = self.corpus.source.startswith("embedded:")
        source = (f"{self.corpus.source}, a {sum(map(len, (self.train_y, self.val_y, self.test_y))):,}-character "
                  "sample: pass --dataset text:FILE for a study") if embedded else self.corpus.source
        corpus = {"path": self.corpus.source, "sha256": self.corpus.sha256, "official": False}
        return {"dataset": self.dataset, "source": source, "files": {"corpus": corpus}}


def load_text_splits(spec: str) -> TextSplits:
    """The corpus of a dataset spec ``text:FILE`` (or ``text`` alone: the embedded sample) as a study's data.

    Examples:
        >>> load_text_splits("text").corpus.vocab_size
        64
    """
    path = parse_text_spec(spec)
    return TextSplits(spec, load_text(path))
