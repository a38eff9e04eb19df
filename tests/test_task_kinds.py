"""char-lm and fit trained by 'actlab compare': the engine's language-model and regression objectives, on real data.

Expected values come from independent sources: the unigram entropy of the corpus (character counts, numpy),
the SHA-256 of its text (hashlib), and a closed form for the fit: predicting 0 outside the box has RMSE
1/sqrt(2) against sin (its mean square over whole periods is 1/2), so a network that extrapolates worse than
that has not continued the sine.
"""
import collections
import gzip
import hashlib
import math

import numpy as np
import pytest

from actlab.cli import main
from actlab.compare.executors import InProcessExecutor, ProcessPoolExecutor
from actlab.compare.runner import execute
from actlab.compare.sweep import build_study
from actlab.compare.training import validate
from actlab.store import Store
from studies import new_store, numbers
from actlab.tasks.fit import fit_data, outside_split
from paths import SHARED_DATA

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SLICE = 200_000  # characters of the KJV: 180,000 train, 10,000 validation, 10,000 test


@pytest.fixture(scope="module")
def kjv_text():
    with gzip.open(SHARED_DATA / "text" / "kjv.txt.gz", "rt", encoding="utf-8") as f:
        return f.read(SLICE)


@pytest.fixture(scope="module")
def corpus_file(kjv_text, tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "kjv-slice.txt.gz"
    path.write_bytes(gzip.compress(kjv_text.encode("utf-8")))
    return path


def unigram_entropy_bits(text: str) -> float:
    counts = np.array(list(collections.Counter(text).values()), dtype=np.float64)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())




def layer_rows(store):
    return [(r["run_id"], r["epoch"], r["layer"], r["metric"], r["value"]) for r in store.layer_stats()]


# --- char-lm -----------------------------------------------------------------------------------------

def test_char_lm_through_the_cli_learns_far_below_the_unigram_entropy(kjv_text, corpus_file, tmp_path):
    out = tmp_path / "lm"
    assert main(["compare", "--task", "char-lm", "--profile", "test", "--dataset", f"text:{corpus_file}",
                 "--workers", "1", "--quiet", "--out", str(out)]) == 0
    with Store(out / "results.sqlite", readonly=True) as store:
        study = store.study()
        runs, epochs = store.runs(), store.epochs()
    config = study["config"]
    assert (config["task"], config["metric"], config["direction"], config["model"]) == (
        "char-lm", "bits_per_char", "min", "char-transformer")
    # The corpus is recorded by the SHA-256 of its text (decompressed), as hashlib computes it.
    assert study["data"]["files"]["corpus"]["sha256"] == hashlib.sha256(kjv_text.encode("utf-8")).hexdigest()
    assert {r["activation"] for r in runs} == {"gelu", "swiglu", "geglu"}  # the gated units train
    assert all(r["status"] == "done" for r in runs) and len(runs) == 6
    entropy = unigram_entropy_bits(kjv_text)  # ~4.39 bits: what a model of character frequencies reaches
    last = [e for e in epochs if e["epoch"] == config["epochs"]]
    assert len(last) == 6
    for e in last:
        # *_loss is the cross-entropy in nats, *_acc the same in bits per character.
        assert e["val_loss"] / math.log(2) == pytest.approx(e["val_acc"], rel=1e-9)
        assert e["val_acc"] < entropy - 0.5, (e["activation"], e["val_acc"], entropy)
        assert e["test_acc"] < entropy - 0.5
    first = {(e["activation"], e["seed"]): e["val_acc"] for e in epochs if e["epoch"] == 1}
    assert all(e["val_acc"] < first[(e["activation"], e["seed"])] for e in last)  # it kept learning


def lm_study(corpus_file, **settings):
    return build_study("test", task="char-lm", dataset=f"text:{corpus_file}",
                       **{"activations": ("swiglu",), "seeds": 2, "epochs": 3, "steps": 12, **settings})


def fit_study(**settings):
    return build_study("test", task="fit", **{"epochs": 3, "steps": 60, **settings})


@pytest.mark.parametrize("kind", ["char-lm", "fit"])
def test_training_in_rounds_equals_one_go_bit_for_bit(kind, corpus_file, tmp_path):
    study = lm_study(corpus_file) if kind == "char-lm" else fit_study()
    validate(study, progress=False)
    executor = InProcessExecutor()
    with new_store(tmp_path / "whole", study) as whole:
        execute(study, whole, executor, quiet=True)
        reference, reference_layers = numbers(whole), layer_rows(whole)
    with new_store(tmp_path / "rounds", study) as store:
        execute(study, store, executor, quiet=True, until=1)
        assert all(store.stored_epochs(r["run_id"]) == 1 for r in store.runs())
        execute(study, store, executor, quiet=True, until=2)
        execute(study, store, executor, quiet=True)
        assert all(r["status"] == "done" for r in store.runs())
        assert numbers(store) == reference
        assert layer_rows(store) == reference_layers
        assert all(r["env"].get("resumed_after_epoch") == 2 for r in store.runs())


def test_pool_workers_train_the_same_numbers(corpus_file, tmp_path):
    for name, study in (("lm", lm_study(corpus_file, epochs=2)), ("fit", fit_study(epochs=2))):
        validate(study, progress=False)
        with new_store(tmp_path / f"{name}-here", study) as here:
            execute(study, here, InProcessExecutor(), quiet=True)
            expected = numbers(here)
        with new_store(tmp_path / f"{name}-pool", study) as pool:
            execute(study, pool, ProcessPoolExecutor(2, threads=1), quiet=True)
            assert numbers(pool) == expected, name


# --- fit ---------------------------------------------------------------------------------------------

def test_fit_through_the_cli_relu_does_not_continue_the_sine(tmp_path):
    out = tmp_path / "fit"
    assert main(["compare", "--task", "fit", "--profile", "test", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    with Store(out / "results.sqlite", readonly=True) as store:
        runs, epochs, layers = store.runs(), store.epochs(), store.layer_stats()
    assert all(r["status"] == "done" and r["grid"] == {"target": "sine"} for r in runs)
    zero = 1 / math.sqrt(2)  # RMSE of predicting 0 outside the box against sin
    for e in (e for e in epochs if e["epoch"] == 2):
        assert e["val_loss"] == pytest.approx(e["val_acc"] ** 2) and e["train_acc"] < zero  # it fitted inside
        if e["activation"] == "relu":
            assert e["test_acc"] > zero  # piecewise linear: it leaves the sine outside the box
    inside = [r["value"] for r in layers if r["layer"] == "fit" and r["metric"] == "test_rmse_in" and r["epoch"] == 2]
    assert len(inside) == 4 and max(inside) < zero
    curve = [r for r in layers if r["layer"].startswith("fit:curve:") and r["metric"] == "target"]
    assert curve and all(r["value"] == pytest.approx(math.sin(x["value"]), abs=1e-6) for r, x in zip(
        curve, [r for r in layers if r["layer"].startswith("fit:curve:") and r["metric"] == "x"]))
    report = (out / "report.html").read_text()
    assert 'id="fit-sine-section"' in report and "snake (seed 0)" in report and "relu (seed 0)" in report
    # The errors table: each activation's in-range and out-of-range test RMSE, mean over its seeds, at the
    # epoch of lowest validation loss (recomputed here from the stored epochs and extra rows).
    section = report[report.index('id="fit-errors"'):report.index("</section>", report.index('id="fit-errors"'))]
    assert "fit:" not in report[report.index('id="gradients"'):]  # the task's rows are not layers
    for activation in ("relu", "snake"):
        mine = [e for e in epochs if e["activation"] == activation]
        best = {}
        for e in mine:
            if e["run_id"] not in best or e["val_loss"] < best[e["run_id"]]["val_loss"]:
                best[e["run_id"]] = e
        inside_at = {(r["run_id"], r["epoch"]): r["value"] for r in layers
                     if r["layer"] == "fit" and r["metric"] == "test_rmse_in"}
        out_mean = sum(e["test_acc"] for e in best.values()) / len(best)
        in_mean = sum(inside_at[(e["run_id"], e["epoch"])] for e in best.values()) / len(best)
        assert f"{in_mean:.3g}" in section and f"{out_mean:.3g}" in section, (activation, in_mean, out_mean)


def test_fit_selects_on_validation_points_outside_the_box_that_are_not_test_points():
    data = fit_data("sine")
    val_x, _, test_x, _ = outside_split(data)
    val, test = set(val_x[:, 0].tolist()), set(test_x[:, 0].tolist())
    assert not val & test and len(val) + len(test) == data.test_out_x.shape[0]
    assert min(abs(v) for v in val | test) > 2 * math.pi  # all outside the training box


# --- refusals ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags", [
    ["--task", "char-lm", "--dataset", "mnist-small"],
    ["--dataset", "text"],  # the seed CNN on text
    ["--task", "fit", "--dataset", "text"],
    ["--task", "fit", "--train-limit", "100"],  # the grids split themselves
])
def test_data_of_another_kind_is_refused_in_one_line(flags, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["compare", *flags, "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--dataset" in err and "Traceback" not in err
    assert not out.exists()


def test_a_missing_corpus_is_named(tmp_path, capsys):
    missing = tmp_path / "nope.txt.gz"
    assert main(["compare", "--task", "char-lm", "--dataset", f"text:{missing}", "--quiet",
                 "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and len(err.strip().splitlines()) == 1
