"""Gated units (GLU, ReGLU, GeGLU, SwiGLU, Bilinear): a * g(b) with x split in two along dim.

Values and gate derivatives are checked against mpmath formulas written out
here (not the catalog's own references), the Jacobian against
torch.autograd.functional, and the modules against PyTorch's F.glu and the
products of F.gelu, F.silu and F.relu.
"""
from __future__ import annotations

import math

import mpmath as mp
import pytest
import torch
import torch.nn.functional as F

import actlab
from actlab.catalog import DEFINITIONS
from actlab.catalog.properties import compute
from actlab.cli import main

GATED = [n for n in actlab.names() if DEFINITIONS[n].gated]
CASES = [(n, p) for n in GATED for p in DEFINITIONS[n].param_settings()]
CASE_IDS = [n + "".join(f":{k}={v}" for k, v in p.items() if v != DEFINITIONS[n].param(k).default)
            for n, p in CASES]
case_param = pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
EPS64 = 2.0 ** -52


def _mp_sig(t):
    return 1 / (1 + mp.exp(-t))


# The gates of Dauphin et al. (2017) and Shazeer (2020), written independently of the catalog.
MP_GATE = {
    "glu": lambda b, p: _mp_sig(b),
    "reglu": lambda b, p: max(mp.mpf(0), b),
    "geglu": lambda b, p: (b * _mp_sig(2 * mp.sqrt(2 / mp.pi) * (b + mp.mpf("0.044715") * b ** 3))
                           if p["approximate"] else b * mp.ncdf(b)),
    "swiglu": lambda b, p: b * _mp_sig(mp.mpf(p["beta"]) * b),
    "bilinear": lambda b, p: b,
}
# lim g(b) as b -> -inf and +inf.
GATE_LIMITS = {"glu": (0.0, 1.0), "reglu": (0.0, math.inf), "geglu": (0.0, math.inf),
               "swiglu": (0.0, math.inf), "bilinear": (-math.inf, math.inf)}


def _grid_b() -> torch.Tensor:
    # 1/pi of a step keeps b off ReLU's kink at 0
    dense = torch.linspace(-30, 30, 121, dtype=torch.float64) + 0.5 / math.pi
    tail = torch.logspace(-3, 4, 29, dtype=torch.float64)
    return torch.cat([dense, tail, -tail])


def _pairs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    b = _grid_b()
    gen = torch.Generator().manual_seed(seed)
    a = (torch.rand(b.shape, generator=gen, dtype=torch.float64) - 0.5) * 6
    a[::7] *= 1e4
    return a, b


# --------------------------------------------------------------------------- #
# values and derivatives against mpmath
# --------------------------------------------------------------------------- #
@case_param
def test_forward_and_derivative_match_mpmath(case):
    name, params = case
    module = actlab.get(name, **params)
    a, b = _pairs()
    x = torch.cat([a, b])  # 1-D: first half a, second half b (F.glu's order)
    y = module(x)
    d = module.derivative(x)
    gate = {k: v for k, v in params.items() if k != "dim"}
    with mp.workdps(40):
        g = [MP_GATE[name](mp.mpf(v), gate) for v in b.tolist()]
        dg = [mp.diff(lambda t: MP_GATE[name](t, gate), mp.mpf(v)) for v in b.tolist()]
        want_y = torch.tensor([float(mp.mpf(ai) * gi) for ai, gi in zip(a.tolist(), g)], dtype=torch.float64)
        want_da = torch.tensor([float(gi) for gi in g], dtype=torch.float64)
        want_db = torch.tensor([float(mp.mpf(ai) * di) for ai, di in zip(a.tolist(), dg)], dtype=torch.float64)
    h = b.numel()
    for got, want, what in ((y, want_y, "f"), (d[:h], want_da, "df/da"), (d[h:], want_db, "df/db")):
        err = (got - want).abs()
        # relative 4 ulp, plus the gate's own absolute error (GELU's erfc tail: 5e-16,
        # docs/precision.md) scaled by a where the gate is multiplied by a
        bound = 4 * EPS64 * want.abs() + 1e-15 * (a.abs() if what != "df/da" else 1.0)
        assert bool((err <= bound).all()), (name, what, float((err / bound).max()))
    # the catalog's own mpmath reference agrees with the one written here
    ref = DEFINITIONS[name].reference
    with mp.workdps(40):
        catalog = ref([mp.mpf(v) for v in x.tolist()], **params)
    torch.testing.assert_close(torch.tensor([float(v) for v in catalog], dtype=torch.float64), want_y,
                               rtol=EPS64, atol=0)


@case_param
def test_gate_and_gate_derivative_are_the_catalog_gate(case):
    name, params = case
    module = actlab.get(name, **params)
    b = _grid_b()
    gate = {k: v for k, v in params.items() if k != "dim"}
    with mp.workdps(40):
        want = torch.tensor([float(MP_GATE[name](mp.mpf(v), gate)) for v in b.tolist()], dtype=torch.float64)
    torch.testing.assert_close(module.gate(b), want, rtol=4 * EPS64, atol=1e-15)  # GELU's tail: atol 5e-16
    ones = torch.ones_like(b)
    torch.testing.assert_close(module.gate_derivative(b), module.derivative(torch.cat([ones, b]))[b.numel():])


# --------------------------------------------------------------------------- #
# Jacobian, JVP, gradcheck on every path
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", GATED)
@pytest.mark.parametrize("dim, shape", [(-1, (3, 8)), (0, (4, 3)), (1, (2, 6, 3))])
def test_jacobian_and_jvp_match_autograd(name, dim, shape):
    module = actlab.get(name, dim=dim)
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    v = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    _, want_jvp = torch.autograd.functional.jvp(module, x, v)
    torch.testing.assert_close(module.jvp(x, v), want_jvp, rtol=1e-14, atol=1e-15)
    auto = torch.autograd.functional.jacobian(module, x)  # shape out.shape + x.shape
    jac = module.jacobian(x)  # dim moved last: (..., h, 2h)
    d = dim % x.dim()
    n = shape[d]
    assert jac.shape == tuple(s for i, s in enumerate(shape) if i != d) + (n // 2, n)
    for index in torch.cartesian_prod(*[torch.arange(s) for i, s in enumerate(shape) if i != d]).reshape(-1, x.dim() - 1):
        idx = index.tolist()
        full = idx[:d] + [slice(None)] + idx[d:]
        block = auto[tuple(full)][(Ellipsis, *idx[:d], slice(None), *idx[d:])]
        torch.testing.assert_close(jac[tuple(idx)], block, rtol=1e-14, atol=1e-15)


@case_param
def test_gradcheck_on_every_path(case):
    name, params = case
    module = actlab.get(name, **params)
    paths = ["composite", "analytic"] + (["native"] if module.path == "native" else [])
    x = (torch.randn(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 + 0.1)
    outputs = []
    for path in paths:
        module.path = path
        xi = x.clone().requires_grad_()
        assert torch.autograd.gradcheck(module, (xi,), eps=1e-6, atol=1e-8), (name, path)
        outputs.append(module(x))
    for out in outputs[1:]:
        torch.testing.assert_close(out, outputs[0], rtol=2 * EPS64, atol=0)


def test_paths_keep_only_the_input_where_autograd_would_keep_more():
    assert actlab.get("glu").path == "native"
    for name in ("reglu", "geglu", "swiglu"):
        assert actlab.get(name).path == "analytic", name


# --------------------------------------------------------------------------- #
# dtypes, extremes, NaN
# --------------------------------------------------------------------------- #
LOW = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float32: 2e-6}


@pytest.mark.parametrize("name", GATED)
@pytest.mark.parametrize("dtype", list(LOW), ids=str)
def test_low_precision_dtypes_match_float64(name, dtype):
    module = actlab.get(name)
    x64 = torch.randn(64, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 3
    x = x64.to(dtype)
    want = module(x.double())  # the same (rounded) inputs, computed in float64
    xi = x.clone().requires_grad_()
    y = module(xi)
    y.sum().backward()
    assert y.dtype == dtype and xi.grad.dtype == dtype and torch.isfinite(xi.grad).all()
    torch.testing.assert_close(y.double(), want, rtol=LOW[dtype], atol=LOW[dtype])


@pytest.mark.parametrize("name", GATED)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_limits_at_infinity_extremes_and_nan(name, dtype):
    module = actlab.get(name)
    big = torch.finfo(dtype).max
    lo, hi = GATE_LIMITS[name]
    inf = math.inf
    a = torch.tensor([1.5, -2.0, 1.5, -2.0], dtype=dtype)
    b = torch.tensor([-inf, -inf, inf, inf], dtype=dtype)
    want = torch.tensor([1.5 * lo, -2.0 * lo, 1.5 * hi, -2.0 * hi], dtype=torch.float64) + 0.0
    got = module(torch.cat([a, b]))
    torch.testing.assert_close(got.double(), want, rtol=0, atol=0)
    # finite extremes: no NaN, no overflow the mathematics does not make (at b = 0.5
    # every gate has g < 1 and g' <= 1, so a g(b) and a g'(b) stay below the max)
    a = torch.tensor([0.5, 0.5, big, -big], dtype=dtype)
    b = torch.tensor([big, -big, 0.5, 0.5], dtype=dtype)
    x = torch.cat([a, b]).requires_grad_()
    y = module(x)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all(), (y, x.grad)
    assert torch.isfinite(module.derivative(x.detach())).all()
    # NaN in a or b gives NaN in that output only
    a = torch.tensor([math.nan, 1.0, 1.0], dtype=dtype)
    b = torch.tensor([1.0, math.nan, 1.0], dtype=dtype)
    y = module(torch.cat([a, b]))
    assert y[:2].isnan().all() and not y[2].isnan()


@pytest.mark.parametrize("name", GATED)
def test_odd_size_and_bad_dim_are_refused_clearly(name):
    module = actlab.get(name)
    with pytest.raises(ValueError, match=rf"{name}: the input's size along dim=-1 is 5, which is odd.*even"):
        module(torch.randn(3, 5))
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        actlab.get(name, dim=2)(torch.randn(3, 4))
    with pytest.raises(ValueError, match="0-dimensional"):
        module(torch.tensor(1.0))
    with pytest.raises(ValueError, match="v must be shaped like x"):
        module.jvp(torch.randn(2, 4), torch.randn(2, 2))


# --------------------------------------------------------------------------- #
# PyTorch equivalences
# --------------------------------------------------------------------------- #
def test_equal_to_pytorch_ops():
    x = torch.randn(5, 6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6)) * 3
    for dim in (-1, 1):
        assert torch.equal(actlab.get("glu", dim=dim)(x), torch.nn.GLU(dim)(x))
    a, b = x.chunk(2, -1)
    for spec, want in (("reglu", a * F.relu(b)), ("geglu", a * F.gelu(b)),
                       ("geglu:approximate=true", a * F.gelu(b, approximate="tanh")),
                       ("swiglu", a * F.silu(b)), ("bilinear", a * b)):
        # atol: F.gelu's 1 + erf form cancels in the left tail, where actlab's erfc form does not
        torch.testing.assert_close(actlab.get(spec)(x), want, rtol=4 * EPS64, atol=1e-15)


# --------------------------------------------------------------------------- #
# torch.compile, state_dict, a feed-forward block that trains
# --------------------------------------------------------------------------- #
def test_torch_compile_forward_and_backward():
    torch._dynamo.reset()
    chain = torch.nn.Sequential(*(actlab.get(n) for n in ("glu", "reglu", "geglu", "swiglu", "bilinear"))).double()
    x = torch.randn(3, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    results = []
    for fn in (chain, torch.compile(chain)):
        xi = x.clone().requires_grad_()
        y = fn(xi)
        (y * torch.arange(1.0, 3.0, dtype=torch.float64)).sum().backward()
        results.append((y.detach(), xi.grad))
    assert results[0][0].shape == (3, 2)
    for eager, compiled in zip(*results):
        torch.testing.assert_close(compiled, eager, rtol=1e-9, atol=1e-12)


def _ffn(seed: int, d: int = 784, h: int = 32, classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, 2 * h), actlab.get("swiglu"),
                               torch.nn.Linear(h, classes))


def test_feed_forward_block_trains_on_mnist_and_round_trips_state_dict(tmp_path):
    from actlab.data import load_dataset, split

    s = split(load_dataset("mnist-small"), val_fraction=0.1, seed=0, train_limit=2048)
    model = _ffn(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = F.cross_entropy(model(s.val_x), s.val_y).item()
    gen = torch.Generator().manual_seed(0)
    for _ in range(60):
        idx = torch.randint(0, len(s.train_y), (128,), generator=gen)
        loss = F.cross_entropy(model(s.train_x[idx]), s.train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = F.cross_entropy(model(s.val_x), s.val_y).item()
        accuracy = (model(s.val_x).argmax(1) == s.val_y).float().mean().item()
    assert after < 0.5 * before and accuracy > 0.75, (before, after, accuracy)
    torch.save(model.state_dict(), tmp_path / "ffn.pt")
    fresh = _ffn(1)
    fresh.load_state_dict(torch.load(tmp_path / "ffn.pt"))
    with torch.no_grad():
        assert torch.equal(fresh(s.val_x), model(s.val_x))
    assert actlab.get("swiglu:beta=2").state_dict() == {}  # nothing learned: the parameters live in the label


# --------------------------------------------------------------------------- #
# properties, list, show, plot: the gate
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name, gate", [("glu", "sigmoid"), ("reglu", "relu"), ("geglu", "gelu"),
                                        ("swiglu", "silu"), ("bilinear", "identity")])
def test_properties_are_the_gates(name, gate):
    p, q = compute(name), compute(gate)
    assert (p.inf, p.sup, p.monotonic, p.smoothness, p.kinks, p.extrema) == \
        (q.inf, q.sup, q.monotonic, q.smoothness, q.kinks, q.extrema)
    assert "gate" in p.note and p.family == "gated unit"


def test_cli_show_plot_and_list(tmp_path, capsys):
    assert main(["show", "swiglu", "--no-cost"]) == 0
    out = capsys.readouterr().out
    assert "SwiGLU" in out and "computed for the gate" in out and "beta" in out
    assert main(["plot", "swiglu", "geglu:approximate=true", "--out", str(tmp_path), "--dpi", "30"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["geglu_approximate-True.png", "swiglu.png"]
    assert main(["list", "--no-cost", "--format", "csv"]) == 0
    rows = {line.split(",")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert all(n in rows for n in GATED) and "gated unit" in rows["glu"]


def test_catalog_site_pages_for_gated_units(tmp_path):
    assert main(["catalog", *GATED, "--html", str(tmp_path), "--no-figures"]) == 0
    for name in GATED:
        page = (tmp_path / f"{name}.html").read_text()
        assert "computed for the gate" in page and "<svg" in page


def test_gated_units_are_not_hidden_activations_of_the_builtin_models():
    from actlab.models import build_model, swap

    with pytest.raises(ValueError, match="gated unit.*halves its input"):
        build_model("mlp", "swiglu:beta=2")
    model = build_model("mlp", "relu", depth=1, width=8)
    with pytest.raises(ValueError, match="not elementwise"):
        swap(model, "glu")


def test_gallery_and_slideshow_draw_gated_units(tmp_path):
    from actlab.plots.catalog import gallery, slideshow

    (png,) = gallery(GATED, tmp_path / "gallery", dpi=30)
    gif = slideshow(GATED[:2], tmp_path / "slides", dpi=30)
    assert png.stat().st_size > 1000 and gif.stat().st_size > 1000
