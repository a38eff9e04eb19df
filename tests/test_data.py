"""actlab.data on real MNIST / Fashion-MNIST: reading, finding, downloading, embedding, splitting."""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import importlib.util
import json
import socket
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from actlab.data import DATASETS, DataError, Dataset, load_dataset, names, split
from actlab.data import sources
from actlab.data.dataset import embedded_folder
from actlab.data.idx import encode_idx

from paths import SHARED_DATA as SHARED
REPO = Path(__file__).resolve().parents[1]
STEMS = list(sources.FILES.values())
needs_shared = pytest.mark.skipif(
    not (SHARED / "mnist").is_dir() or not (SHARED / "fashion-mnist").is_dir(),
    reason=f"the official MNIST/Fashion-MNIST files are not in {SHARED}; real-data tests need them",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Every test gets its own empty cache and no ACTLAB_DATA_DIR."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(sources.ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def mnist():
    if not (SHARED / "mnist").is_dir():
        pytest.skip(f"official MNIST is not in {SHARED / 'mnist'}")
    return load_dataset("mnist", data_dir=SHARED, download=False)


def write_slice(folder: Path, ds: Dataset, n_train: int, n_test: int = 20, compress: bool = True) -> Path:
    """Write the first images of a real dataset as the four IDX files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = {
        "train-images-idx3-ubyte": ds.train_images[:n_train],
        "train-labels-idx1-ubyte": ds.train_labels[:n_train],
        "t10k-images-idx3-ubyte": ds.test_images[:n_test],
        "t10k-labels-idx1-ubyte": ds.test_labels[:n_test],
    }
    for stem, tensor in parts.items():
        raw = encode_idx(tensor.numpy().astype(np.uint8))
        path = folder / (f"{stem}.gz" if compress else stem)
        path.write_bytes(gzip.compress(raw) if compress else raw)
    return folder


def pixel_stats(images: torch.Tensor) -> tuple[float, float]:
    """Mean and std of images/255, exact, from a histogram of the 256 grey levels."""
    counts = torch.bincount(images.flatten(), minlength=256).double()
    levels = torch.arange(256, dtype=torch.float64) / 255
    mean = (counts * levels).sum() / counts.sum()
    var = (counts * (levels - mean) ** 2).sum() / counts.sum()
    return float(mean), float(var.sqrt())


# --- the official files ------------------------------------------------------ #
@needs_shared
def test_full_mnist_from_parent_folder(mnist):
    assert mnist.source == str(SHARED / "mnist")  # DIR/<dataset> layout
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert mnist.train_labels.dtype == torch.int64 and len(mnist.test_labels) == 10000
    assert mnist.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    mean, std = pixel_stats(mnist.train_images)
    assert round(mean, 4) == 0.1307 and round(std, 4) == 0.3081
    assert mnist.classes == [str(d) for d in range(10)]


@needs_shared
def test_full_fashion_mnist_from_its_own_folder():
    ds = load_dataset("fashion-mnist", data_dir=SHARED / "fashion-mnist", download=False)
    assert ds.train_images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    assert torch.bincount(ds.train_labels).tolist() == [6000] * 10
    mean, std = pixel_stats(ds.train_images)
    assert round(mean, 4) == 0.2860 and round(std, 4) == 0.3530
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_names_and_descriptions():
    assert names() == ["mnist-small", "mnist", "fashion-mnist"]
    assert set(DATASETS) == set(names()) and all(DATASETS.values())
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*mnist-small, mnist, fashion-mnist"):
        load_dataset("cifar")


# --- the embedded subset ------------------------------------------------------ #
def test_embedded_subset_is_balanced_and_default():
    ds = load_dataset()
    assert ds.name == "mnist-small" and ds.source == "embedded"
    assert torch.bincount(ds.train_labels).tolist() == [1000] * 10
    assert torch.bincount(ds.test_labels).tolist() == [200] * 10
    notice = (embedded_folder() / "NOTICE").read_text()
    assert "LeCun" in notice and "CC BY-SA 3.0" in notice and "subset" in notice


@needs_shared
def test_embedded_images_are_the_official_ones(mnist):
    ds = load_dataset("mnist-small")
    record = json.loads((embedded_folder() / "subset.json").read_text())
    for part, official_x, official_y in (
        ("train", mnist.train_images, mnist.train_labels),
        ("test", mnist.test_images, mnist.test_labels),
    ):
        idx = torch.tensor(record[f"{part}_indices"])
        assert len(idx.unique()) == len(idx)
        assert torch.equal(getattr(ds, f"{part}_images"), official_x[idx])
        assert torch.equal(getattr(ds, f"{part}_labels"), official_y[idx])


@needs_shared
def test_embedded_files_rebuild_identically():
    spec = importlib.util.spec_from_file_location("make_embedded", REPO / "tools" / "make_embedded.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--source", str(SHARED / "mnist"), "--check"]) == 0


# --- where files are found ------------------------------------------------------ #
def test_resolution_order(mnist, tmp_path, monkeypatch):
    given = write_slice(tmp_path / "given", mnist, 30)
    env = write_slice(tmp_path / "env" / "mnist", mnist, 40, compress=False)  # DIR/<dataset>, raw files
    cache = write_slice(sources.cache_root() / "mnist", mnist, 50)
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path / "env"))

    first = load_dataset("mnist", data_dir=given, download=False)
    assert (first.source, len(first.train_labels)) == (str(given), 30)
    second = load_dataset("mnist", download=False)
    assert (second.source, len(second.train_labels)) == (str(env), 40)
    assert torch.equal(second.train_images, mnist.train_images[:40])  # raw IDX reads like gzip
    monkeypatch.setenv(sources.ENV_VAR, str(tmp_path / "nothing-here"))
    third = load_dataset("mnist", download=False)
    assert (third.source, len(third.train_labels)) == (str(cache), 50)


def test_distribution_folder_comes_after_the_cache(mnist, tmp_path, monkeypatch):
    system = write_slice(tmp_path / "usr-share", mnist, 30)
    patched = dataclasses.replace(sources.SPECS["fashion-mnist"], system_dirs=(str(system),))
    monkeypatch.setitem(sources.SPECS, "fashion-mnist", patched)
    assert load_dataset("fashion-mnist", download=False).source == str(system)
    cache = write_slice(sources.cache_root() / "fashion-mnist", mnist, 40)
    assert load_dataset("fashion-mnist", download=False).source == str(cache)


def test_data_dir_without_the_files_is_a_clear_error(mnist, tmp_path):
    partial = write_slice(tmp_path / "partial", mnist, 30)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as err:
        load_dataset("mnist", data_dir=partial)
    msg = str(err.value)
    assert str(partial) in msg and str(partial / "mnist") in msg
    assert "train-images-idx3-ubyte[.gz]" in msg and "missing: t10k-labels-idx1-ubyte." in msg
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", data_dir=tmp_path / "no-such-folder")


def test_no_download_never_touches_the_network(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("download=False opened a URL")

    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    with pytest.raises(DataError, match="downloading is turned off") as err:
        load_dataset("mnist", download=False)
    assert str(sources.cache_root() / "mnist") in str(err.value)


# --- damaged files ------------------------------------------------------ #
def _truncate_gzip(folder):
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    return path


def _wrong_magic(folder):
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(path.read_bytes())[4:]))
    return path


def _header_count_too_big(folder):
    path = folder / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[4:8] = (21).to_bytes(4, "big")  # 20 images are stored
    path.write_bytes(gzip.compress(bytes(raw)))
    return path


def _trailing_data(folder):
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b"\x01\x02"))
    return path


def _labels_for_fewer_images(folder):
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(np.zeros(25, np.uint8))))
    return path


def _empty(folder):
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.unlink()
    path = folder / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    "damage, expected",
    [
        (_truncate_gzip, r"the gzip data is truncated or corrupt"),
        (_wrong_magic, r"magic number is 0x00000801, expected 0x00000803 .*IDX labels file: are the file names swapped"),
        (_header_count_too_big, r"is truncated: its header declares 21 x 28 x 28 uint8 values \(16480 bytes in all\), but it holds only 15696 bytes"),
        (_trailing_data, r"has more data than its header declares \(20 values, 28 bytes\)"),
        (_labels_for_fewer_images, r"holds 30 images but .*train-labels-idx1-ubyte.gz holds 25 labels"),
        (_empty, r"is empty \(no content\); expected an IDX labels file"),
    ],
    ids=["truncated-gzip", "wrong-magic", "count-exceeds-data", "trailing-data", "images-labels-mismatch", "empty"],
)
def test_damaged_files_are_named_and_explained(mnist, tmp_path, damage, expected):
    folder = write_slice(tmp_path / "d", mnist, 30)
    broken = damage(folder)
    with pytest.raises(DataError, match=expected) as err:
        load_dataset("mnist", data_dir=folder)
    assert str(broken) in str(err.value)
    assert "Delete" in str(err.value) or "replace" in str(err.value)


# --- download from mirrors ---------------------------------------------------- #
class _Server:
    """A quiet static HTTP server on 127.0.0.1 that records the paths asked for."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                server.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def mirror_site(tmp_path, monkeypatch):
    """good/ serves the official MNIST; corrupt/ serves it with one label changed in train-labels."""
    if not (SHARED / "mnist").is_dir():
        pytest.skip(f"official MNIST is not in {SHARED / 'mnist'}")
    for var in ("no_proxy", "NO_PROXY"):  # a proxy configured in the environment must not see loopback requests
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    root = tmp_path / "www"
    for name in ("good", "corrupt"):
        (root / name).mkdir(parents=True)
        for stem in STEMS:
            (root / name / f"{stem}.gz").symlink_to(SHARED / "mnist" / f"{stem}.gz")
    bad = root / "corrupt" / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[8] = 7  # the first label is 5; still a well-formed IDX file, only the checksum can tell
    bad.unlink()
    bad.write_bytes(gzip.compress(bytes(raw)))
    server = _Server(root)
    yield server
    server.close()


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_skips_dead_and_corrupt_mirrors(mirror_site):
    mirrors = [_refused_url(), f"{mirror_site.url}/missing/", f"{mirror_site.url}/corrupt/", f"{mirror_site.url}/good/"]
    ds = load_dataset("mnist", mirrors=mirrors, progress=True)
    cache = sources.cache_root() / "mnist"
    assert ds.source == str(cache)
    assert ds.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert len(ds.train_labels) == 60000 and len(ds.test_labels) == 10000
    assert "/corrupt/train-labels-idx1-ubyte.gz" in mirror_site.requests  # tried and rejected
    assert "/good/train-labels-idx1-ubyte.gz" in mirror_site.requests
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{s}.gz" for s in STEMS)  # no partial files left
    labels = gzip.decompress((cache / "train-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.sha256(labels).hexdigest() == sources.SPECS["mnist"].sha256["train-labels-idx1-ubyte"]


def test_download_rejects_corrupt_content_and_resumes_later(mirror_site):
    cache = sources.cache_root() / "mnist"
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte.gz of mnist; every mirror failed") as err:
        load_dataset("mnist", mirrors=[f"{mirror_site.url}/corrupt/"], progress=False)
    assert "content SHA-256 is" in str(err.value) and "rejected as corrupt" in str(err.value)
    assert sorted(p.name for p in cache.iterdir()) == ["train-images-idx3-ubyte.gz"]  # verified before it; kept

    mirror_site.requests.clear()
    load_dataset("mnist", mirrors=[f"{mirror_site.url}/good/"], progress=False)
    assert sorted(mirror_site.requests) == sorted(f"/good/{s}.gz" for s in STEMS if s != "train-images-idx3-ubyte")


# --- split ------------------------------------------------------------------ #
@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist-small")


@pytest.fixture(scope="module")
def uneven(mnist):
    """The first 3,000 official training images: real, with unequal class sizes."""
    return Dataset("mnist", "test", mnist.train_images[:3000], mnist.train_labels[:3000],
                   mnist.test_images[:500], mnist.test_labels[:500], mnist.classes)


def test_split_tensors_are_scaled_images(small):
    s = split(small, val_fraction=0.1, seed=0)
    assert s.train_x.dtype == torch.float32 and s.train_x.shape == (9000, 1, 28, 28)
    assert s.val_x.shape == (1000, 1, 28, 28) and s.test_x.shape == (2000, 1, 28, 28)
    assert float(s.train_x.min()) == 0.0 and float(s.train_x.max()) == 1.0
    assert torch.equal(s.train_x[:, 0], small.train_images[s.train_indices].float() / 255)
    assert torch.equal(s.val_y, small.train_labels[s.val_indices])
    assert torch.equal(s.test_x[:, 0], small.test_images.float() / 255)
    assert torch.equal(s.test_y, small.test_labels)


def test_split_is_stratified_and_disjoint(uneven):
    s = split(uneven, val_fraction=0.2, seed=3)
    per_class = torch.bincount(uneven.train_labels)
    assert len(set(per_class.tolist())) > 1  # the classes really are uneven
    want = torch.floor(per_class * 0.2 + 0.5).long()
    assert torch.equal(torch.bincount(s.val_y, minlength=10), want)
    train, val = set(s.train_indices.tolist()), set(s.val_indices.tolist())
    assert not train & val and train | val == set(range(3000))


def test_split_is_deterministic_per_seed(small):
    a, b, c = split(small, seed=5), split(small, seed=5), split(small, seed=6)
    assert torch.equal(a.val_indices, b.val_indices) and torch.equal(a.train_x, b.train_x)
    assert not torch.equal(a.val_indices, c.val_indices)


def test_train_limit_is_stratified_nested_and_keeps_validation(uneven):
    full = split(uneven, seed=1)
    small_part, larger = split(uneven, seed=1, train_limit=100), split(uneven, seed=1, train_limit=700)
    assert len(small_part.train_y) == 100 and len(larger.train_y) == 700
    share = torch.bincount(full.train_y, minlength=10).double() / len(full.train_y)
    assert (torch.bincount(larger.train_y, minlength=10) - 700 * share).abs().max() < 1
    assert set(small_part.train_indices.tolist()) <= set(larger.train_indices.tolist()) <= set(full.train_indices.tolist())
    assert torch.equal(small_part.val_indices, full.val_indices)
    assert len(split(uneven, seed=1, train_limit=10**6).train_y) == len(full.train_y)


def test_train_limit_too_small_says_what_would_work(small):
    with pytest.raises(DataError, match=r"train_limit=12 leaves class '\d' with only 1 training example\(s\); .*at least 3 per class\. Use train_limit >= 30"):
        split(small, train_limit=12)
    assert len(split(small, train_limit=30).train_y) == 30


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"val_fraction": 0}, "val_fraction must be a number between 0 and 1"),
        ({"val_fraction": 1.5}, "val_fraction must be a number between 0 and 1"),
        ({"val_fraction": 0.0001}, "gives class '0' 0 validation example"),
        ({"train_limit": 0}, "train_limit must be a positive integer"),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_bad_split_arguments(small, kwargs, expected):
    with pytest.raises(DataError, match=expected):
        split(small, **kwargs)


def test_to_float_scales_pixels_and_keeps_features():
    from actlab.data.split import to_float

    grey = torch.tensor([[[0, 51], [255, 102]]], dtype=torch.uint8)  # [1, 2, 2]
    assert to_float(grey).shape == (1, 1, 2, 2)
    assert to_float(grey)[0, 0].flatten().tolist() == pytest.approx([0.0, 0.2, 1.0, 0.4], abs=1e-7)  # x / 255
    colour = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    assert to_float(colour).shape == (2, 3, 4, 4) and to_float(colour).max().item() == 1.0
    features = torch.tensor([[-1.5, 300.0]], dtype=torch.float64)
    out = to_float(features)
    assert out.dtype == torch.float32 and out.tolist() == [[-1.5, 300.0]]  # as stored, not rescaled
