"""Build actlab's embedded "mnist-small" dataset from the official MNIST files.

    python tools/make_embedded.py --source DIR          # DIR holds the four official files
    python tools/make_embedded.py --source DIR --check  # verify the committed files, write nothing

The subset: for every digit, SEED-determined draws without replacement of
TRAIN_PER_CLASS images from the official training set and TEST_PER_CLASS from
the official test set, kept in their original order. The chosen indices go into
subset.json so anyone can check that each embedded image is the official one.
Files are written as gzip IDX like the originals, with a fixed gzip timestamp so
a rerun reproduces them; --check compares decompressed content, which does not
depend on the zlib version.
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

from actlab.data.download import content_sha256
from actlab.data.idx import encode_idx, read_pair
from actlab.data.sources import FILES, SPECS

SEED = 1998  # the year MNIST was published
TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "actlab" / "data" / "embedded"

NOTICE = """\
actlab's "mnist-small" dataset
==============================

A subset of the MNIST database of handwritten digits, by Yann LeCun, Corinna
Cortes and Christopher J.C. Burges, licensed under CC BY-SA 3.0
(https://creativecommons.org/licenses/by-sa/3.0/). These files are a subset of
MNIST and are distributed under the same licence.

What was taken: {train_total:,} training images ({train_per:,} of each digit) drawn
from the 60,000 official training images, and {test_total:,} test images ({test_per:,} of
each digit) from the 10,000 official test images. For each digit the images were
drawn uniformly without replacement by numpy.random.default_rng({seed}) (digits
0 to 9 in order, training set first), then kept in their original order. The
pixels and labels are unchanged.

subset.json lists the zero-based index of every image in the official file it
came from, and the SHA-256 of the official (decompressed) files it was drawn
from. tools/make_embedded.py in the actlab repository rebuilds these files.
"""


def _draw(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [rng.choice(np.flatnonzero(labels == digit), size=per_class, replace=False) for digit in range(10)]
    return np.sort(np.concatenate(chosen))


def _official(source: Path, stem: str) -> Path:
    for candidate in (source / f"{stem}.gz", source / stem):
        if candidate.is_file():
            want = SPECS["mnist"].sha256[stem]
            if content_sha256(candidate) != want:
                sys.exit(f"{candidate} is not the official MNIST file (its content SHA-256 is not {want}).")
            return candidate
    sys.exit(f"{source} has no {stem}[.gz]; pass --source a folder with the official MNIST files.")


def build(source: Path) -> dict[str, bytes]:
    """The embedded files' content (name -> bytes, before gzip) drawn from the official files in ``source``."""
    rng = np.random.default_rng(SEED)
    out, indices = {}, {}
    for part, per_class in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        image_stem, label_stem = FILES[f"{part}_images"], FILES[f"{part}_labels"]
        images, labels = read_pair(_official(source, image_stem), _official(source, label_stem))
        chosen = _draw(labels, per_class, rng)
        indices[part] = chosen.tolist()
        out[f"{image_stem}.gz"] = encode_idx(images[chosen])
        out[f"{label_stem}.gz"] = encode_idx(labels[chosen])
    record = {
        "dataset": "MNIST subset (mnist-small)",
        "seed": SEED,
        "train_per_class": TRAIN_PER_CLASS,
        "test_per_class": TEST_PER_CLASS,
        "source_sha256": SPECS["mnist"].sha256,
        "train_indices": indices["train"],
        "test_indices": indices["test"],
    }
    out["subset.json"] = (json.dumps(record, indent=1) + "\n").encode()
    out["NOTICE"] = NOTICE.format(
        train_total=10 * TRAIN_PER_CLASS, train_per=TRAIN_PER_CLASS,
        test_total=10 * TEST_PER_CLASS, test_per=TEST_PER_CLASS, seed=SEED,
    ).encode()
    return out


def _committed(path: Path) -> bytes | None:
    """A committed file's content, decompressed for .gz: compressed bytes may differ between zlib versions."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="folder with the four official MNIST files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = parser.parse_args(argv)
    files = build(args.source)
    if args.check:
        stale = [name for name, data in files.items() if _committed(args.out / name) != data]
        print("up to date" if not stale else f"differ from a fresh build: {', '.join(stale)}")
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name.endswith(".gz"):
            data = gzip.compress(data, compresslevel=9, mtime=0)
        (args.out / name).write_bytes(data)
        print(f"wrote {args.out / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
