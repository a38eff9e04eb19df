"""A bad --space is refused before the search starts: one clear line, exit 2, nothing written (issue 10)."""
import pytest

from actlab.cli import main

TUNE = ["tune", "--sampler", "grid", "--trials", "2", "--activations", "relu", "--seeds", "1", "--epochs", "1",
        "--model", "mlp", "--train-limit", "300", "--quiet"]


@pytest.mark.parametrize("space, message", [
    ("optimizer=adam|sgdd", "optimizer 'sgdd'"),
    ("width=0|16", "--width must be at least 1"),
    ("depth=0..3", "--depth must be at least 1"),
    ("lr=1e-4..inf:log", "--lr must be a positive finite number"),
    ("clip_value=0.5|inf", "--clip-value must be positive"),
    ("init=auto|glorot_fancy", "init 'glorot_fancy'"),
])
def test_bad_space_is_one_line_before_the_search(tmp_path, capsys, space, message):
    out = tmp_path / "out"
    assert main([*TUNE, "--space", space, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("actlab tune: error:") and message in err[0], err
    assert not out.exists()


def test_the_same_checks_guard_a_compare_grid(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", "--grid", "optimizer=adam|sgdd", "--quiet", "--out", str(out)]) == 2
    assert "optimizer 'sgdd'" in capsys.readouterr().err
    assert not out.exists()
