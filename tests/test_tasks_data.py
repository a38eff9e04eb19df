"""The user's own data in 'actlab compare': npz:, csv: and imagefolder: end to end, made from real images.

Each source is written here from 300 real Fashion-MNIST test images (30 per
class); the checks are what a real training gives (well above the 10%
chance level of ten balanced classes) and what the files are (SHA-256
computed here with hashlib), never values taken from the code under test.
"""
import csv
import hashlib

import numpy as np
import pytest
from PIL import Image

from actlab.cli import main
from actlab.data.idx import read_pair
from actlab.results import load
from paths import SHARED_DATA

PER_CLASS = 30
QUICK = ["compare", "--activations", "relu,tanh", "--seeds", "2", "--epochs", "4", "--batch-size", "32",
         "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def fashion():
    folder = SHARED_DATA / "fashion-mnist"
    images, labels = read_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:PER_CLASS] for c in range(10)]))
    return images[keep], labels[keep].astype(np.int64)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _trained(out, n_runs=4):
    study = load(out)
    assert study.count("done") == n_runs
    accuracies = [r["test_acc_mean"] for r in study.summary.rows]
    assert min(accuracies) > 0.35, accuracies  # ten balanced classes: chance is 0.10
    return study


def test_npz_trains_and_records_its_file(tmp_path, fashion, capsys):
    x, y = fashion
    path = tmp_path / "clothes.npz"
    np.savez(path, x=x, y=y)
    out = tmp_path / "study"
    assert main([*QUICK, "--dataset", f"npz:{path}", "--model", "mlp", "--out", str(out)]) == 0
    study = _trained(out)
    files = study.provenance["files"]
    assert [f["sha256"] for f in files.values()] == [_sha(path)]
    assert study.config["dataset"] == f"npz:{path}"
    assert len(study.history) == 4 * 4  # 2 activations x 2 seeds x 4 epochs
    # Resuming on a changed file is refused, naming the data, before any training.
    np.savez(path, x=x[::-1].copy(), y=y[::-1].copy())
    capsys.readouterr()
    assert main([*QUICK, "--dataset", f"npz:{path}", "--model", "mlp", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "data" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_csv_of_pixel_features_trains_an_mlp(tmp_path, fashion):
    x, y = fashion
    path = tmp_path / "pixels.csv"
    names = ["shirt_or_not", *[f"p{i}" for i in range(x[0].size)]]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for image, label in zip(x, y):
            w.writerow([f"class{label}", *image.reshape(-1).tolist()])
    out = tmp_path / "study"
    assert main([*QUICK, "--dataset", f"csv:{path}#column=shirt_or_not", "--out", str(out)]) == 0
    study = _trained(out)
    assert study.config["model"] == "mlp"  # a CSV holds feature vectors: the task's CNN became the MLP
    assert [f["sha256"] for f in study.provenance["files"].values()] == [_sha(path)]


def test_colour_image_folder_of_any_size_trains_the_cnn(tmp_path, fashion):
    x, y = fashion
    root = tmp_path / "photos"
    for i, (image, label) in enumerate(zip(x, y)):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(image)
        if i % 3 == 0:  # a colour image: the dataset becomes 3-channel
            img = Image.merge("RGB", (img, img.point(lambda v: v // 2), img))
        if i % 5 == 0:  # a larger image: resized to 28x28
            img = img.resize((56, 56))
        img.save(folder / f"{i:04d}.png")
    out = tmp_path / "study"
    assert main([*QUICK, "--dataset", f"imagefolder:{root}", "--out", str(out)]) == 0
    study = _trained(out)
    assert study.config["model"] == "cnn"
    # One SHA-256 over '<relative path>\t<sha256>\n' lines sorted by path (docs/user-data.md), computed here.
    lines = sorted(f"{p.relative_to(root).as_posix()}\t{_sha(p)}\n" for p in root.rglob("*.png"))
    assert [f["sha256"] for f in study.provenance["files"].values()] == [
        hashlib.sha256("".join(lines).encode()).hexdigest()]


@pytest.mark.parametrize("make, message", [
    (lambda p: np.savez(p, x=np.zeros((10, 4))), "y"),
    (lambda p: p.write_bytes(b"not a zip"), "npz"),
])
def test_bad_file_is_one_line_naming_it_exit_2(tmp_path, capsys, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    assert main([*QUICK, "--dataset", f"npz:{path}", "--model", "mlp", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(path) in err and message in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # refused before the study folder was made


def test_feature_vectors_refuse_the_cnn(tmp_path, fashion, capsys):
    x, y = fashion
    path = tmp_path / "flat.npz"
    np.savez(path, x=x.reshape(len(x), -1).astype(np.float32) / 255, y=y)
    assert main([*QUICK, "--dataset", f"npz:{path}", "--model", "cnn", "--out", str(tmp_path / "o")]) == 2
    assert "--model mlp" in capsys.readouterr().err
