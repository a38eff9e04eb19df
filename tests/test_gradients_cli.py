"""`actlab gradients`: each experiment on real data, asserting the behaviour it shows."""
import json
import math
import os

import pytest

from actlab.cli import main

from paths import MNIST_DIR as _MNIST_DIR

MNIST_DIR = str(_MNIST_DIR)


def run(capsys, *argv):
    code = main(["gradients", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(capsys, tmp_path, *argv):
    path = tmp_path / "r.json"
    code, out, err = run(capsys, *argv, "--out", str(tmp_path), "--json", str(path))
    assert code == 0, err
    assert (tmp_path / f"gradients_{argv[0]}.png").stat().st_size > 0
    return json.loads(path.read_text()), out


def test_chain_replays_seed_arithmetic_with_sign_corrected(capsys, tmp_path):
    r, out = run_json(capsys, tmp_path, "chain", "--weights", "100,100,100,100", "--biases=1.56,0,0,0",
                      "--derivatives", "0.13,0.21,0.09,0.14", "--lr", "0.5")
    assert r["dC_db1"] == pytest.approx(0.13 * 100 * 0.21 * 100 * 0.09 * 100 * 0.14)
    assert r["dC_db1"] == pytest.approx(343.98)
    # a positive gradient moves the bias down: 1.56 - 0.5 * 343.98, not the seed's 173.55
    assert r["layers"][0]["new_b"] == pytest.approx(1.56 - 0.5 * 343.98)
    assert r["layers"][0]["new_b"] < 0
    assert "343.98" in out


def test_chain_sigmoid_prime_of_ten(capsys, tmp_path):
    r, _ = run_json(capsys, tmp_path, "chain", "--weights", "1", "--biases", "0", "--input", "10")
    e = math.exp(-10)
    assert r["layers"][0]["derivative"] == pytest.approx(e / (1 + e) ** 2, rel=1e-12)


def test_chain_explodes_with_big_weights_and_centred_inputs(capsys, tmp_path):
    # Nielsen's choice: biases that put every z_j at 0, so each factor is 100 * 1/4
    r, _ = run_json(capsys, tmp_path, "chain", "--weights", "100,100,100,100", "--biases=-100,-50,-50,-50")
    grads = [abs(l["dC_db"]) for l in r["layers"]]
    assert [l["factor"] for l in r["layers"]] == pytest.approx([25.0] * 4)
    assert grads == sorted(grads, reverse=True) and grads[0] / grads[-1] == pytest.approx(25.0 ** 3)


def test_chain_big_weights_alone_vanish_and_weight_barely_moves(capsys, tmp_path):
    # without tuned biases, weights of 100 saturate every sigmoid: the gradient vanishes instead
    r, _ = run_json(capsys, tmp_path, "chain", "--weights", "100,100,100,100", "--lr", "0.5")
    assert abs(r["dC_db1"]) < 1e-100
    r, _ = run_json(capsys, tmp_path, "chain", "--weights", "0.2,1,1,1", "--biases", "10", "--lr", "0.5")
    first = r["layers"][0]
    assert 0 < abs(first["dC_dw"]) < 1e-12 and first["new_w"] == pytest.approx(0.2, abs=1e-12)
    assert abs(r["layers"][-1]["dC_db"]) > 1e6 * abs(first["dC_db"])


def test_speed_sigmoid_early_layers_learn_slower(capsys, tmp_path):
    r, out = run_json(capsys, tmp_path, "speed", "--layers", "784,30,30,30,10", "--samples", "500",
                      "--epochs", "1")
    s = r["speed_at_init"]
    assert len(s) == 3 and s[0] < s[1] < s[2] and s[2] > 5 * s[0]
    assert len(r["speed_by_epoch"]) == 1 and all(v > 0 for v in r["speed_by_epoch"][0])
    assert "hidden 3" in out


def test_speed_relu_he_is_far_more_even_than_sigmoid(capsys, tmp_path):
    relu, _ = run_json(capsys, tmp_path, "speed", "--layers", "784,30,30,30,10", "--samples", "500",
                       "--epochs", "0", "--activation", "relu", "--init", "he", "--cost", "quadratic")
    sig, _ = run_json(capsys, tmp_path, "speed", "--layers", "784,30,30,30,10", "--samples", "500",
                      "--epochs", "0", "--cost", "quadratic")
    spread = lambda s: max(s) / min(s)
    assert sig["cost"] == "quadratic" and sig["speed_at_init"][0] < sig["speed_at_init"][-1]
    assert spread(relu["speed_at_init"]) < spread(sig["speed_at_init"]) / 3


def test_propagate_selu_lecun_holds_fixed_point(capsys, tmp_path):
    r, _ = run_json(capsys, tmp_path, "propagate", "--depth", "50", "--width", "128", "--samples", "500")
    assert len(r["mean"]) == len(r["var"]) == len(r["grad_norm"]) == 50
    assert all(abs(m) < 0.1 for m in r["mean"])
    assert all(0.8 < v < 1.25 for v in r["var"])


def test_propagate_selu_gain_and_relu_glorot_shrink(capsys, tmp_path):
    gain, _ = run_json(capsys, tmp_path, "propagate", "--depth", "30", "--width", "128", "--samples", "500",
                       "--init", "selu-gain")
    assert gain["var"][-1] < 0.2 < 0.6 < gain["var"][0]
    relu, _ = run_json(capsys, tmp_path, "propagate", "--depth", "30", "--width", "128", "--samples", "500",
                       "--activation", "relu", "--init", "glorot")
    assert relu["var"][-1] < 1e-5 * relu["var"][0]
    he, _ = run_json(capsys, tmp_path, "propagate", "--depth", "30", "--width", "128", "--samples", "500",
                     "--activation", "relu", "--init", "he")
    assert he["var"][-1] > 0.05 * he["var"][0]


def test_dead_high_lr_kills_relu_not_leaky(capsys, tmp_path):
    r, out = run_json(capsys, tmp_path, "dead", "--activations", "relu,leaky_relu", "--lr", "0.6",
                      "--epochs", "2", "--samples", "1000", "--layers", "784,64,64,64,10")
    relu, leaky = r["activations"]["relu"], r["activations"]["leaky_relu"]
    assert max(relu["by_epoch"][-1]) > 0.1 and max(relu["by_epoch"][-1]) > max(relu["at_init"])
    assert all(f == 0 for epoch in leaky["by_epoch"] for f in epoch)
    low, _ = run_json(capsys, tmp_path, "dead", "--activations", "relu", "--lr", "0.01", "--epochs", "2",
                      "--samples", "1000", "--layers", "784,64,64,64,10")
    assert max(low["activations"]["relu"]["by_epoch"][-1]) < max(relu["by_epoch"][-1])


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason=f"full MNIST not found at {MNIST_DIR}")
def test_clip_on_full_mnist_unclipped_explodes_clipped_train(capsys, tmp_path):
    r, out = run_json(capsys, tmp_path, "clip", "--dataset", "mnist", "--data-dir", MNIST_DIR,
                      "--samples", "1000", "--epochs", "1")
    none, value, norm = (r["runs"][k] for k in ("none", "value", "norm"))
    assert none["diverged"] and not value["diverged"] and not norm["diverged"]
    assert max(g for g in none["grad_norm"] if g is not None) > 1e3 * max(value["grad_norm"][-5:])
    assert value["final_loss"] < value["loss"][0] and norm["final_loss"] < norm["loss"][0]


@pytest.mark.parametrize("argv, words", [
    (["speed", "--layers", "784,30,,10"], "--layers"),
    (["speed", "--layers", "784"], "at least two"),
    (["propagate", "--depth", "0"], "--depth"),
    (["propagate", "--width", "0"], "--width"),
    (["propagate", "--init", "xavier"], "unknown init"),
    (["propagate", "--activation", "relux", "--depth", "2"], "unknown activation"),
    (["dead", "--activations", "relu,nope"], "unknown activation"),
    (["chain", "--weights", "1,2", "--biases", "1,2,3"], "biases"),
    (["chain", "--weights", "a,b"], "--weights"),
    ([], "subcommand"),
])
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, words):
    code, out, err = run(capsys, *argv, *(["--out", str(tmp_path)] if argv else []))
    assert code == 2 and words in err and "Traceback" not in err
