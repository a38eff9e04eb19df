"""The text corpus loader: any UTF-8 text, plain or gzip; provenance; errors that name the file."""
import gzip
import re

import pytest

from actlab.data.errors import DataError
from actlab.data.text import load_text, parse_text_spec
from paths import SHARED_DATA

KJV = SHARED_DATA / "text" / "kjv.txt.gz"


def published_sha256(name: str) -> str:
    """The SHA-256 the shared data's README publishes for ``name``."""
    readme = (SHARED_DATA / "README.md").read_text()
    return re.search(rf"^{re.escape(name)}\s+([0-9a-f]{{64}})", readme, re.M).group(1)


def test_kjv_provenance_matches_published_hash():
    corpus = load_text(KJV)
    assert corpus.sha256 == published_sha256("text/kjv.txt")
    n = corpus.train.numel() + corpus.val.numel() + corpus.test.numel()
    assert n == 4_298_239 and corpus.vocab_size == 73  # both stated in the README
    assert corpus.decode(corpus.train[:11]).strip() == "Genesis 1"
    assert corpus.train.numel() == int(0.9 * n) and corpus.val.numel() == int(0.05 * n)
    assert corpus.decode(corpus.test[-40:]).rstrip().endswith("Amen.")


def test_gzip_and_plain_give_identical_data(tmp_path):
    with gzip.open(KJV, "rt", encoding="utf-8") as f:
        text = f.read(50_000)
    plain = tmp_path / "slice.txt"
    plain.write_text(text, encoding="utf-8")
    packed = tmp_path / "slice.txt.gz"
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    a, b = load_text(plain), load_text(packed)
    assert a.sha256 == b.sha256 and a.vocab == b.vocab
    for name in ("train", "val", "test"):
        assert getattr(a, name).equal(getattr(b, name))
    assert a.decode(a.train) + a.decode(a.val) + a.decode(a.test) == text


def test_non_ascii_text_round_trips(tmp_path):
    text = "Größe café naïve 東京 " * 200
    path = tmp_path / "utf8.txt"
    path.write_text(text, encoding="utf-8")
    corpus = load_text(path)
    assert corpus.decode(corpus.train) + corpus.decode(corpus.val) + corpus.decode(corpus.test) == text
    assert corpus.vocab == "".join(sorted(set(text)))


def test_embedded_text_without_a_corpus():
    corpus = load_text()
    assert corpus.source == "embedded:kjv-genesis.txt"
    assert corpus.decode(corpus.train[:60]).lstrip().startswith("Genesis 1\n\n  1 In the beginning God created")


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(DataError, match=r"nope\.txt does not exist"):
        load_text(missing)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 ".encode("latin-1") * 1000)
    with pytest.raises(DataError, match=r"latin1\.txt is not UTF-8: byte 3 \(0xe9\)"):
        load_text(latin1)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt is empty"):
        load_text(empty)
    short = tmp_path / "short.txt"
    short.write_text("In the beginning " * 10)
    with pytest.raises(DataError, match=r"short\.txt is too short: 170 characters"):
        load_text(short, min_split_chars=129)
    truncated = tmp_path / "cut.txt.gz"
    truncated.write_bytes(gzip.compress(b"In the beginning " * 1000)[:40])
    with pytest.raises(DataError, match=r"cut\.txt\.gz starts like gzip but does not decompress"):
        load_text(truncated)
    with pytest.raises(DataError, match=r"is not a file"):
        load_text(tmp_path)


def test_parse_text_spec():
    assert parse_text_spec("text:corpus.txt.gz") == "corpus.txt.gz"
    assert parse_text_spec("text") is None
    with pytest.raises(DataError, match="expected 'text:FILE'"):
        parse_text_spec("mnist")
