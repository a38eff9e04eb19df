"""Provenance and no mixed data: file hashes recorded, datasets recognised, resumes on other data refused."""
import gzip
import json
import shutil
import sqlite3

from actlab.cli import main
from actlab.compare.sweep import build_study
from paths import MNIST_DIR, SHARED_DATA

FASHION_DIR = SHARED_DATA / "fashion-mnist"
# The official SHA-256 of the decompressed files, from the data's README (shared/data/README.md).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SMALL = ["compare", "--model", "mlp", "--width", "16", "--activations", "relu", "--seeds", "1", "--epochs", "1",
         "--workers", "1", "--quiet"]


def one_line_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("actlab compare: error:") and "Traceback" not in err[0]
    return err[0]


def test_mnist_named_as_fashion_mnist_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*SMALL, "--dataset", "fashion-mnist", "--data-dir", str(MNIST_DIR), "--out", str(out)]) == 2
    line = one_line_error(capsys)
    assert "is mnist's official" in line and "not fashion-mnist" in line and "--dataset mnist" in line
    assert not out.exists()


def test_fashion_mnist_named_as_mnist_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*SMALL, "--dataset", "mnist", "--data-dir", str(FASHION_DIR), "--out", str(out)]) == 2
    line = one_line_error(capsys)
    assert "is fashion-mnist's official" in line and "not mnist" in line
    assert not out.exists()


def test_a_named_dataset_trains_on_all_of_it_unless_limited():
    assert build_study(dataset="mnist").train_limit is None
    assert build_study(dataset="mnist-small").train_limit is None
    assert build_study(dataset="mnist", train_limit=500).train_limit == 500
    assert build_study().train_limit == 4000  # the default profile's quick subset of the embedded data


def test_the_study_records_and_prints_what_it_trains_on(tmp_path, capsys):
    out = tmp_path / "out"
    flags = [*SMALL, "--dataset", "mnist", "--data-dir", str(MNIST_DIR), "--batch-size", "500", "--out", str(out)]
    assert main(flags) == 0
    err = capsys.readouterr().err
    assert f"mnist: 54,000 train, 6,000 validation, 10,000 test images, from {MNIST_DIR}" in err
    conn = sqlite3.connect(out / "results.sqlite")
    data = json.loads(conn.execute("SELECT data_json FROM study").fetchone()[0])
    env = json.loads(conn.execute("SELECT env_json FROM runs").fetchone()[0])
    conn.close()
    assert data["dataset"] == "mnist" and data["source"] == str(MNIST_DIR)
    assert {stem: f["sha256"] for stem, f in data["files"].items()} == MNIST_SHA256
    assert {"torch", "actlab", "python", "threads", "backend", "device", "host"} <= set(env)
    assert env["backend"] == "in-process" and env["device"] == "cpu"
    # A second invocation (nothing left to train) adds its command; config.json keeps both.
    assert main(flags) == 0
    config = json.loads((out / "config.json").read_text())
    assert [i["command"].split()[:2] for i in config["invocations"]] == [["actlab", "compare"]] * 2
    assert config["data"]["files"]["train-images-idx3-ubyte"]["sha256"] == MNIST_SHA256["train-images-idx3-ubyte"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".lock"]  # no temp files


def test_a_resume_on_other_data_is_refused_with_the_difference(tmp_path, capsys):
    changed = tmp_path / "mnist-changed"
    changed.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (changed / f"{stem}.gz").symlink_to(MNIST_DIR / f"{stem}.gz")
    labels = bytearray(gzip.decompress((MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[8] = (labels[8] + 1) % 10  # one test label changed: the same name, other data
    (changed / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    out = tmp_path / "out"
    flags = [*SMALL, "--dataset", "mnist", "--train-limit", "300", "--out", str(out)]
    assert main([*flags, "--data-dir", str(MNIST_DIR)]) == 0
    capsys.readouterr()
    before = (out / "results.sqlite").read_bytes()
    assert main([*flags, "--data-dir", str(changed)]) == 2
    line = one_line_error(capsys)
    assert "data t10k-labels-idx1-ubyte sha256: 'ff7bcfd4" in line and "results are never mixed" in line
    assert (out / "results.sqlite").read_bytes() == before
    shutil.rmtree(changed)
