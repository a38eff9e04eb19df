"""Figures: files are valid images of sensible size, curves come from the definitions."""
import numpy as np
import pytest
from PIL import Image

import actlab
from actlab.catalog.properties import compute
from actlab.plots.catalog import (activation_figure, family, file_stem, formats, gallery, plot_activations,
                                  slideshow, x_range)


def test_activation_figure_files_in_both_formats(tmp_path):
    paths = plot_activations(["gelu", "elu:alpha=0.2"], tmp_path, style="dark", fmts=("png", "svg"), dpi=50)
    assert sorted(p.name for p in paths) == ["elu_alpha-0.2.png", "elu_alpha-0.2.svg", "gelu.png", "gelu.svg"]
    with Image.open(tmp_path / "gelu.png") as im:
        w, h = im.size
        assert 400 <= w <= 800 and 150 <= h <= 400, (w, h)
        # dark style: the background (a corner pixel) is dark
        assert sum(im.convert("RGB").getpixel((1, 1))) < 150
    svg = (tmp_path / "gelu.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "f'(x)" in svg


def _curve(ax, gid):
    (line,) = [ln for ln in ax.lines if ln.get_gid() == gid]
    return (np.asarray(v, dtype=float) for v in line.get_data())


def test_curves_are_the_definitions_own():
    fig = activation_figure("silu", style="light")
    ax_f, ax_d = fig.axes[:2]
    x, y = _curve(ax_f, "f")
    ok = np.isfinite(x)
    ref = actlab.get("silu").numpy(x[ok])
    np.testing.assert_allclose(y[ok], ref, rtol=1e-12, atol=1e-15)
    xd, yd = _curve(ax_d, "df")
    import torch
    d = actlab.get("silu").derivative(torch.as_tensor(xd[np.isfinite(xd)])).numpy()
    np.testing.assert_allclose(yd[np.isfinite(xd)], d, rtol=1e-12, atol=1e-15)
    # the extremum is marked and annotated
    assert any("min" in t.get_text() for t in ax_f.texts)


def test_families_come_from_parameter_defaults_ranges_and_settings():
    name, settings = family("elu")
    assert name == "alpha" and [s["alpha"] for s in settings] == [0.2, 0.5, 1.0, 2.0]
    assert family("relu") == (None, [])
    # a bare value keeps other parameters: only the family parameter varies
    pname, settings = family("hardtanh:max_val=2")
    assert pname == "min_val" and all(s["max_val"] == 2 for s in settings)


def test_jumps_are_not_bridged_by_lines():
    fig = activation_figure("binary_step")
    x, y = _curve(fig.axes[0], "f")
    assert np.isnan(y).sum() == 1 and set(np.round(y[np.isfinite(y)], 12)) == {0.0, 1.0}


def test_x_range_shows_every_kink():
    assert x_range(compute("relu6")) == (-5.0, 7.5)
    assert x_range(compute("tanh")) == (-5.0, 5.0)


def test_gallery_of_all_at_low_dpi_and_slideshow(tmp_path):
    (png,) = gallery(actlab.names(), tmp_path / "gallery", dpi=30)
    with Image.open(png) as im:
        assert im.size[0] > 300 and im.size[1] > 250
    gif = slideshow(["relu", "tanh", "softmax"], tmp_path / "show.gif", dpi=30)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 3


def test_bad_formats_and_stems():
    assert formats("png, SVG") == ("png", "svg")
    with pytest.raises(ValueError, match="expected a comma-separated list"):
        formats("png,gif")
    assert file_stem("ELU:alpha=0.2") == "elu_alpha-0.2"
