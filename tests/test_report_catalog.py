"""`actlab catalog --html DIR`: every page is written, self-contained, and built from the catalog's definitions."""
import json
import math
import re

import numpy as np
import pytest
import torch

import actlab
from actlab.catalog import DEFINITIONS
from actlab.cli import main
from actlab.report.curves import movable, param_values, slider_data


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    assert main(["catalog", "--html", str(out), "--no-figures"]) == 0
    return out


def _curves(page: str, name: str) -> dict:
    m = re.search(rf'<script type="application/json" id="curves-{name}">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def test_index_links_every_activation_with_a_thumbnail(site, capsys):
    index = (site / "index.html").read_text()
    assert sorted(p.name for p in site.glob("*.html")) == sorted(["index.html", *(f"{n}.html" for n in DEFINITIONS)])
    for name in DEFINITIONS:
        card = re.search(rf'<a class="card" href="{name}.html" data-name="{name}">(.*?)</a>', index, re.S)
        assert card and "<polyline" in card.group(1), name
    rows = re.search(r'<table id="properties".*?<tbody>(.*?)</tbody>', index, re.S).group(1)
    assert rows.count("<tr>") == len(DEFINITIONS)


@pytest.mark.parametrize("name", ["elu", "hardtanh", "softmax", "relu"])
def test_activation_page_has_math_plots_parameters_and_text(site, name):
    page = (site / f"{name}.html").read_text()
    d = DEFINITIONS[name]
    for block in ("formula", "dformula"):
        assert re.search(rf'<div class="formula-row" id="{block}"><span class="formula".*?<svg class="math"', page)
    assert page.count('<input type="range"') == len(movable(d))
    for text in (*d.pros, *d.cons, *d.references):
        assert actlab.report.html.esc(text) in page
    if d.params:
        params = re.search(r'<table id="params".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
        assert params.count("<tr>") == len(d.params)
    data = _curves(page, name)
    assert len(data["f"]) == math.prod(len(p["values"]) for p in data["params"])


def test_pages_make_no_external_reference(site):
    for path in site.glob("*.html"):
        text = path.read_text()
        assert not re.search(r'(src|href|url)\s*[=(]\s*["\']?(https?:|//)', text), path.name
        assert "Content-Security-Policy" in text


@pytest.mark.parametrize("name", ["elu", "silu", "softplus", "leaky_relu", "rrelu", "softmax"])
def test_every_precomputed_curve_matches_the_module(name):
    """Each slider position holds f and f' of actlab.get(name, **that setting), to the 4 digits stored."""
    data = slider_data(DEFINITIONS[name])
    x = torch.tensor(data["x"], dtype=torch.float64)
    combos = np.array(np.meshgrid(*[p["values"] for p in data["params"]], indexing="ij")).reshape(
        len(data["params"]), -1).T if data["params"] else [()]
    assert len(combos) == len(data["f"])
    for i in range(0, len(combos), max(1, len(combos) // 7)):
        params = {p["name"]: float(v) for p, v in zip(data["params"], combos[i])}
        if data["refused"][i]:  # e.g. RReLU with lower > upper: no curve, and the catalog does refuse it
            assert data["f"][i] is None and params["lower"] > params["upper"]
            with pytest.raises(ValueError, match="must not exceed"):
                actlab.get(name, **params)
            continue
        module = actlab.get(name, **params).double().eval()
        inp = torch.stack([x, torch.zeros_like(x)], -1) if DEFINITIONS[name].vector else x
        with torch.no_grad():
            f, df = module(inp), module.derivative(inp)
        if DEFINITIONS[name].vector:
            f, df = f[..., 0], df[..., 0]
        np.testing.assert_allclose(data["f"][i], f.numpy(), rtol=1e-3, atol=1e-4, err_msg=str(params))
        np.testing.assert_allclose(data["df"][i], df.numpy(), rtol=1e-3, atol=1e-4, err_msg=str(params))


def test_slider_grids_stay_in_range_and_hold_the_default_and_settings():
    for name, d in DEFINITIONS.items():
        for p in movable(d):
            values = param_values(p, 11, tuple(s[p.name] for s in d.settings if p.name in s))
            assert float(p.default) in values
            for s in d.settings:
                if p.name in s:
                    assert float(s[p.name]) in values, (name, p.name)
            for v in values:
                assert p.validate(name, v) == v  # raises outside the valid range
            if p.open_low:
                assert min(values) > p.low


def test_curve_json_has_no_nan_and_fixed_axes():
    data = slider_data(DEFINITIONS["snake"])
    text = json.dumps(data, allow_nan=False)  # raises if a NaN or inf slipped through
    assert "NaN" not in text
    lo, hi = data["ylim_f"]
    assert all(lo <= v <= hi for curve in data["f"] for v in curve if v is not None)


def test_catalog_into_a_file_is_refused_without_traceback(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("x")
    assert main(["catalog", "--html", str(target)]) == 2
    err = capsys.readouterr().err
    assert "is not a folder" in err and "Traceback" not in err


def test_settings_the_module_refuses_have_no_curve_and_a_reason():
    data = slider_data(DEFINITIONS["rrelu"])
    lower, upper = (p["values"] for p in data["params"])
    pairs = [(lo, up) for lo in lower for up in upper]
    refused = [pair for pair, why in zip(pairs, data["refused"]) if why]
    assert refused == [(lo, up) for lo, up in pairs if lo > up]
    assert all("'lower'" in why and "must not exceed 'upper'" in why for why in data["refused"] if why)
    assert all(f is None for f, why in zip(data["f"], data["refused"]) if why)


def test_named_activations_with_their_figures(tmp_path):
    assert main(["catalog", "--html", str(tmp_path), "Leaky-ReLU", "elu"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.html")) == ["elu.html", "index.html", "leaky_relu.html"]
    page = (tmp_path / "elu.html").read_text()
    assert re.search(r'<img class="figure" id="figure" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)
    index = (tmp_path / "index.html").read_text()
    assert index.count('class="card"') == 2 and "2 activation functions" in index


def test_unknown_name_is_refused_without_traceback(tmp_path, capsys):
    assert main(["catalog", "--html", str(tmp_path), "relu", "nosuchthing"]) == 2
    err = capsys.readouterr().err
    assert "unknown activation 'nosuchthing'" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_embedded_json_cannot_end_its_script_element():
    from actlab.report.html import json_script

    out = json_script("data", {"doc": "</script><script>alert(1)</script>", "v": [1.5, None]})
    assert out.count("</script>") == 1 and out.endswith("</script>")
    assert json.loads(out[out.index(">") + 1:-len("</script>")].replace("<\\/", "</")) == \
        {"doc": "</script><script>alert(1)</script>", "v": [1.5, None]}
    with pytest.raises(ValueError):
        json_script("data", {"x": float("nan")})  # NaN is not JSON; curves must carry null instead


def test_every_elementwise_page_has_the_phase_section_and_others_say_why_not(site):
    from actlab.theory import is_elementwise

    for name, d in DEFINITIONS.items():
        page = (site / f"{name}.html").read_text()
        assert "<h2>Signal propagation at initialisation</h2>" in page, name
        if is_elementwise(name):  # built with --no-figures: the section says the panel was left out
            assert 'id="phase-left-out"' in page and 'id="phase-none"' not in page, name
        else:
            why = re.search(r'<p class="muted" id="phase-none">(.*?)</p>', page).group(1)
            assert "No phase diagram" in why and ("gates" if getattr(d, "gated", False) else "mixes") in why, name


def test_phase_panel_is_an_embedded_png_showing_both_phases(tmp_path):
    import base64
    import io

    from matplotlib import image as mpimg

    assert main(["catalog", "--html", str(tmp_path), "tanh", "glu"]) == 0
    page = (tmp_path / "tanh.html").read_text()
    m = re.search(r'<img class="figure" id="phase" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    img = mpimg.imread(io.BytesIO(base64.b64decode(m.group(1))), format="png")
    assert img.shape[0] >= 200 and img.shape[1] >= 300
    pixels = {tuple(np.round(p[:3] * 255).astype(int)) for p in img.reshape(-1, img.shape[-1])[::7]}
    # tanh is ordered at small sigma_w2 and chaotic at large (Poole et al. 2016): both region colours show
    assert (0xdb, 0xe9, 0xf6) in pixels and (0xf9, 0xdc, 0xc4) in pixels
    glu = (tmp_path / "glu.html").read_text()
    assert 'id="phase"' not in glu and 'id="phase-none"' in glu
