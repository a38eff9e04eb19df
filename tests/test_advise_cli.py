"""`actlab advise PKG.MODULE:FUNC --data mnist`: a user's factory from a package in tests/ on real MNIST."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from actlab.cli import main
from paths import MNIST_DIR

TESTS = Path(__file__).resolve().parent


def test_factory_through_the_cli_in_a_fresh_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "advice.json"
    run = subprocess.run(
        [sys.executable, "-m", "actlab.cli", "advise", "advise_pkg.models:make_net", "--data", "mnist",
         "--data-dir", str(MNIST_DIR), "--batch-size", "64", "--steps", "5", "--json", str(out),
         "--html", str(tmp_path / "advice.html")],
        capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "recommendations:" in run.stdout and "[init]" in run.stdout
    data = json.loads(out.read_text())
    (rec,) = [r for r in data["recommendations"] if r["topic"] == "init"]
    # the factory keeps PyTorch's default init (sigma_w^2 = 1/3); tanh's critical gain at sigma_b^2 = 0 is 1
    assert rec["values"]["gain"] == 1.0 or math.isclose(rec["values"]["gain"], 1.0, rel_tol=1e-9)
    assert math.isclose(rec["values"]["sigma_w2"], 1 / 3, rel_tol=0.05)
    assert data["batch_shape"] == [64, 1, 28, 28]
    assert (tmp_path / "advice.html").stat().st_size > 1000


def test_embedded_default_data_and_the_seed_cnn(capsys):
    assert main(["advise", "cnn", "--steps", "3", "--batch-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "batch (32, 1, 28, 28)" in out and "nothing to change" in out


def test_mistakes_are_one_line_with_status_2(capsys):
    assert main(["advise", "advise_pkg.models:no_such_function"]) == 2
    err = capsys.readouterr().err
    assert "has no callable 'no_such_function'" in err and "Traceback" not in err
    assert main(["advise", "cnn", "--batch-size", "1"]) == 2
    assert "--batch-size" in capsys.readouterr().err
    assert main(["advise", "cnn", "--data", "cifar"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
