"""Tasks: the registry, 'actlab tasks', a task's study settings, deep-mlp on real data, a user's own task."""
import dataclasses
import math
import textwrap
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from actlab.cli import main
from actlab.compare.runner import run_study
from actlab.compare.sweep import PROFILES, SweepError, build_study
from actlab.data.idx import read_pair
from actlab.report.depth import depth_points, depth_section
from actlab.results import load
from actlab.results.summary import run_results
from actlab.store import Store
from actlab.tasks import Task, TaskError, get, names
from paths import SHARED_DATA


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # one intra-op thread: the machine is small and shared
    yield
    torch.set_num_threads(before)


# --- the registry ----------------------------------------------------------------------------------

def test_registry_names_and_definitions():
    assert names()[0] == "seed-cnn" and {"seed-cnn", "deep-mlp", "char-lm"} <= set(names())
    deep = get("deep-mlp")
    assert (deep.dataset, deep.model, deep.kind, deep.metric, deep.direction) == (
        "fashion-mnist", "plain-mlp", "classification", "accuracy", "max")
    assert dict(deep.budget)["grid"] == {"depth": [4, 16, 32, 64]} and deep.minutes == 15
    with pytest.raises(dataclasses.FrozenInstanceError):
        deep.name = "other"  # frozen: one definition each
    with pytest.raises(TaskError, match="unknown task 'nope'.*deep-mlp"):
        get("nope")
    with pytest.raises(TaskError, match="sets dataset_dir, which a task cannot set"):
        Task("t", "s", budget={"dataset_dir": "x"})
    with pytest.raises(TaskError, match="cannot import module 'no_such_module_xyz'"):
        get("no_such_module_xyz:task")


def test_actlab_tasks_prints_every_task_with_budgets(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out.splitlines()
    deep = next(line for line in out if line.startswith("deep-mlp"))
    assert "fashion-mnist" in deep and "6 act x 3 seeds x depth 4|16|32|64, 5 epochs, 10,000 train" in deep
    assert "~15" in deep and "2 act x 2 seeds x depth 32, 3 epochs, 3,000 train" in deep
    assert any(line.startswith("seed-cnn") and "3 epochs, 4,000 train" in line for line in out)
    assert main(["tasks", "nope"]) == 2


# --- a task's study settings -------------------------------------------------------------------------

def test_seed_cnn_study_is_unchanged():
    study = build_study()
    assert (study.task, study.dataset, study.model, study.epochs, study.train_limit) == (
        "seed-cnn", "mnist-small", "cnn", PROFILES["default"]["epochs"], PROFILES["default"]["train_limit"])
    # The default task is not written into the config, so earlier studies keep their ids and resume.
    assert "task" not in study.config()
    assert build_study(task="seed-cnn").study_id() == study.study_id()
    assert build_study("paper").dataset == "mnist"
    with pytest.raises(SweepError, match="unknown profile"):
        build_study("nope")


def test_deep_mlp_settings_and_overrides():
    study = build_study(task="deep-mlp")
    assert study.config()["task"] == "deep-mlp"
    assert study.grid == (("depth", (4, 16, 32, 64)),) and len(study.runs()) == 6 * 3 * 4
    assert build_study(task="deep-mlp", depth=8).grid == ()  # a given depth fixes the swept one
    assert build_study(task="deep-mlp", depth=(4, 8)).grid == (("depth", (4, 8)),)
    assert build_study(task="deep-mlp", batchnorm=True, init="he").runs()[0]["config"]["batchnorm"] is True
    with pytest.raises(ValueError, match="paper"):
        build_study("paper", task="deep-mlp")
    # Every kind trains now: char-lm and fit build studies of their own kind (tests/test_task_kinds.py trains them).
    lm, fit = build_study(task="char-lm"), build_study(task="fit")
    assert (lm.model, lm.metric, lm.direction, len(lm.runs())) == ("char-transformer", "bits_per_char", "min", 18)
    assert fit.grid == (("target", ("sine", "gauss", "ripple2d")),) and len(fit.runs()) == 4 * 3 * 3


# --- deep-mlp on real Fashion-MNIST -----------------------------------------------------------------

@pytest.fixture(scope="module")
def deep_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("deep")
    torch.set_num_threads(1)
    run_study(build_study("test", task="deep-mlp", data_dir=str(SHARED_DATA)), out, workers=1, quiet=True)
    return out


def test_deep_mlp_at_depth_32_separates_selu_from_sigmoid(deep_study):
    study = load(deep_study)
    acc = {r["activation"]: r["test_acc_mean"] for r in study.summary.rows}
    # 32 sigmoid layers pass almost no gradient back (sigma' <= 1/4 per layer): chance, 10 classes.
    assert abs(acc["sigmoid"] - 0.10) < 0.03
    # SELU with LeCun init (the catalog's choice for it) keeps the signal and learns.
    assert acc["selu"] > 0.35
    config = study.runs.iloc[0]["config"]
    assert (config["model"], config["depth"], config["init"]) == ("plain-mlp", 32, "auto")


def test_depth_report_from_the_study(deep_study):
    with Store(deep_study / "results.sqlite", readonly=True) as store:
        results = run_results(store.epochs())
    points = depth_points(results)
    for activation in ("selu", "sigmoid"):
        values = [r.test_acc for r in results if r.activation == activation]
        (depth, mean, low, high, n), = points[activation]
        assert (depth, n) == (32, 2)
        assert math.isclose(mean, sum(values) / 2) and (low, high) == (min(values), max(values))
    svg = depth_section(results, chance=0.1)
    ET.fromstring(svg)  # well-formed
    assert "selu" in svg and "sigmoid" in svg and "chance" in svg


def test_depth_points_by_hand():
    rows = [{"activation": "relu", "grid": {"depth": d}, "test_acc": a}
            for d, a in ((4, 0.8), (4, 0.9), (16, 0.6), (16, math.nan), (64, math.nan))]
    rows.append({"activation": "relu", "grid": {}, "test_acc": 0.99})  # no depth: ignored
    got = depth_points(rows)["relu"]
    assert got[0] == (4, pytest.approx(0.85), 0.8, 0.9, 2) and got[1] == (16, 0.6, 0.6, 0.6, 1)
    assert got[2][0] == 64 and math.isnan(got[2][1]) and got[2][4] == 0
    assert depth_section([]) == ""


# --- a user's own task -------------------------------------------------------------------------------

def test_users_own_task_end_to_end(tmp_path, monkeypatch):
    folder = SHARED_DATA / "mnist"
    images, labels = read_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    keep = np.sort(np.concatenate([np.flatnonzero(labels == c)[:25] for c in range(10)]))
    data = tmp_path / "digits.npz"
    # Row features (a 'protein profile' stand-in): each image's 28 row sums, as floats.
    np.savez(data, x=images[keep].sum(axis=2).astype(np.float32) / 255, y=labels[keep].astype(np.int64))
    package = tmp_path / "my_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(textwrap.dedent(f"""
        from torch import nn
        from actlab.tasks import Task

        def tabular_net(act, in_shape, num_classes):
            return nn.Sequential(nn.Linear(in_shape[0], 64), act(), nn.Linear(64, 64), act(),
                                 nn.Linear(64, num_classes))

        def protein_mlp():
            return Task(name="protein-mlp", summary="row profiles of digits", dataset="npz:{data}",
                        model=tabular_net, budget={{"activations": ["relu", "tanh"], "seeds": 2, "epochs": 6,
                                                   "batch_size": 32, "lr": 0.003}})
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "study"
    assert main(["tasks", "my_pkg.tasks:protein_mlp"]) == 0
    assert main(["compare", "--task", "my_pkg.tasks:protein_mlp", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    study = load(out)
    config = study.study["config"]
    assert (config["task"], config["model"], config["epochs"]) == (
        "my_pkg.tasks:protein_mlp", "my_pkg.tasks:tabular_net", 6)
    assert study.count("done") == 4
    assert min(r["test_acc_mean"] for r in study.summary.rows) > 0.3  # ten digits: chance is 0.10


def test_depth_list_flag(tmp_path, capsys):
    from actlab.cli import _depths

    assert _depths("4,16,32,64") == (4, 16, 32, 64) and _depths("8") == 8
    assert main(["compare", "--task", "deep-mlp", "--depth", "4,x", "--out", str(tmp_path / "o")]) == 2
    assert "'x' for depth is not an integer" in capsys.readouterr().err
    assert main(["compare", "--task", "char-lm", "--dataset", "fashion-mnist", "--out", str(tmp_path / "o")]) == 2
    assert "language-model" in capsys.readouterr().err and not (tmp_path / "o").exists()
