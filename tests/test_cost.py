"""Cost measurement (actlab.catalog.cost) and the memory-saving analytic-backward path."""
from __future__ import annotations

import math
import time

import pytest
import torch

import actlab
from actlab.catalog import cost
from actlab.catalog.module import composite_agrees_at_kinks

SMALL = 2 ** 12  # enough elements to run every kernel; timings themselves are not asserted


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "actlab"


def test_relative_cost_covers_catalog_with_relu_as_unit(cache_home):
    before = torch.get_num_threads()
    costs = cost.relative_cost(numel=SMALL, repeats=1)
    assert list(costs) == actlab.names()
    assert costs["relu"] == 1.0
    for name, value in costs.items():
        assert math.isfinite(value) and value > 0, (name, value)
    assert torch.get_num_threads() == before, "the measurement must restore the thread count"


def test_cache_round_trip_and_refresh(cache_home, monkeypatch):
    first = cost.relative_cost(["relu", "tanh", "silu:beta=2"], numel=SMALL, repeats=1)
    files = list(cache_home.glob("cost-*.json"))
    assert len(files) == 1 and f"n{SMALL}" in files[0].name and "threads1" in files[0].name

    calls = []
    real_measure = cost.measure
    monkeypatch.setattr(cost, "measure", lambda *a, **k: calls.append(a) or real_measure(*a, **k))
    assert cost.relative_cost(["tanh", "relu"], numel=SMALL, repeats=1) == {"tanh": first["tanh"], "relu": 1.0}
    assert calls == [], "cached values must not be measured again"

    cost.relative_cost(["tanh"], numel=SMALL, repeats=1, refresh=True)
    assert len(calls) == 1 and calls[0][0] == ["tanh"]

    cost.relative_cost(["elu"], numel=SMALL, repeats=1)  # a name not cached yet: only it is measured
    assert calls[-1][0] == ["elu"]
    assert set(cost._read_cache(files[0])) == {"relu", "tanh", "silu:beta=2", "elu"}


def test_cache_depends_on_size_and_threads(cache_home):
    cost.relative_cost(["tanh"], numel=SMALL, repeats=1)
    cost.relative_cost(["tanh"], numel=2 * SMALL, repeats=1)
    cost.relative_cost(["tanh"], numel=SMALL, repeats=1, threads=2)
    assert len(list(cache_home.glob("cost-*.json"))) == 3


def test_corrupt_cache_is_measured_again(cache_home):
    cost.relative_cost(["tanh"], numel=SMALL, repeats=1)
    (path,) = cache_home.glob("cost-*.json")
    path.write_text("{not json")
    again = cost.relative_cost(["tanh"], numel=SMALL, repeats=1)
    assert again["tanh"] > 0
    assert set(cost._read_cache(path)) == {"relu", "tanh"}


def test_keys_are_canonical_labels(cache_home):
    costs = cost.relative_cost(["ReLU", "Leaky-ReLU:negative_slope=0.2", "softmax"], numel=SMALL, repeats=1)
    assert list(costs) == ["relu", "leaky_relu:negative_slope=0.2", "softmax"]
    assert list(cost.relative_cost("tanh", numel=SMALL, repeats=1)) == ["tanh"]  # one name, not its letters


def test_bad_input_is_refused_before_measuring(cache_home, monkeypatch):
    monkeypatch.setattr(cost, "measure", lambda *a, **k: pytest.fail("measured despite bad input"))
    with pytest.raises(actlab.catalog.UnknownActivation, match="relux"):
        cost.relative_cost(["relux"], numel=SMALL)
    with pytest.raises(ValueError, match="numel must be at least"):
        cost.relative_cost(["relu"], numel=3)
    with pytest.raises(ValueError, match="outside its valid range"):
        cost.relative_cost(["elu:alpha=-1"], numel=SMALL)


def test_unwritable_cache_warns_and_still_returns(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.warns(UserWarning, match="could not cache"):
        costs = cost.relative_cost(["tanh"], numel=SMALL, repeats=1)
    assert costs["tanh"] > 0


def test_vector_and_stochastic_inputs():
    assert cost.input_for("softmax", 95).shape == (9, cost.VECTOR_ROW)
    assert cost.input_for("relu", 95).shape == (95,)
    # RReLU is timed in eval mode, where it is deterministic
    module = actlab.get("rrelu").eval()
    x = cost.input_for("rrelu", 64)
    assert torch.equal(module(x), module(x))


def test_interleaved_times_rotates_and_discards_warmup():
    order = []
    fns = {k: (lambda k=k: order.append(k)) for k in "abc"}
    times = cost.interleaved_times(fns, repeats=3, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert "".join(order) == "abc" + "bca" + "cab" + "abc"
    assert all(t >= 0 for v in times.values() for t in v)
    with pytest.raises(ValueError, match="repeats"):
        cost.interleaved_times(fns, repeats=0)


def test_single_thread_uses_cpu_clock():
    assert cost.clock_for(1) is time.thread_time
    assert cost.clock_for(2) is time.perf_counter


# --- the analytic-backward path ------------------------------------------- #
def _saved(fn, x):
    """Distinct full-size tensors autograd keeps for fn(x), counted with our own hooks."""
    kept = {}

    def pack(t):
        if t.numel() == x.numel():
            kept[t.untyped_storage().data_ptr()] = t
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(x)
    return y, list(kept.values())


ANALYTIC = ["gelu_sigmoid", "softsign", "squareplus", "leaky_relu6", "silu:beta=2", "sparse_sigmoid"]
# Formulas that keep no more than x (sums of clamps) whose clamp gradients at the kinks are not the convention:
# analytic for that reason (module.composite_agrees_at_kinks).
ANALYTIC_FOR_KINKS = {"leaky_relu6", "sparse_sigmoid"}


@pytest.mark.parametrize("spec", ANALYTIC)
def test_analytic_path_saves_only_the_input(spec):
    module = actlab.get(spec)
    assert module.path == "analytic"
    x = torch.linspace(-8, 8, 1000, dtype=torch.float64, requires_grad=True)  # misses the kinks (0, 6)
    y, kept = _saved(module, x)
    assert len(kept) == 1 and kept[0].data_ptr() == x.data_ptr(), "only x itself may be kept"

    kw = module._kwargs()
    y_plain, kept_plain = _saved(lambda t: module.spec.forward(t, **kw), x)
    plain_bytes = sum(t.untyped_storage().nbytes() for t in kept_plain)
    if spec in ANALYTIC_FOR_KINKS:
        assert plain_bytes <= x.untyped_storage().nbytes(), "the formula keeps no more than x"
        assert not composite_agrees_at_kinks(module.spec, module.params, module._fixed)
    else:
        assert plain_bytes > x.untyped_storage().nbytes(), "the composite would keep more than x"
    assert cost.saved_bytes_per_element(module, x) == 8.0  # float64 input
    assert cost.saved_bytes_per_element(lambda t: module.spec.forward(t, **kw), x) == plain_bytes / x.numel()

    # same values and the same gradient as plain autograd of the formula
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    (dx,) = torch.autograd.grad(y, x, g)
    (dx_plain,) = torch.autograd.grad(y_plain, x, g)
    torch.testing.assert_close(y, y_plain, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(dx, dx_plain, rtol=1e-9, atol=1e-12)


# Every activation whose module takes the analytic path by default, gated units included.
ANALYTIC_PATH = sorted(n for n in actlab.names() if actlab.get(n).path == "analytic")


def test_the_analytic_path_binds_no_signature_per_call(monkeypatch):
    """autograd.Function.apply runs inspect.signature(forward).bind(...) on every call of a Function with
    setup_context (about 20 us, more than a small tensor's forward). The modules take its plain twin, or the
    formula alone where nothing is differentiated, so eager calls (training and inference) never bind; under a
    torch.func transform, which needs setup_context, apply itself still runs (and binds)."""
    import inspect

    assert len(ANALYTIC_PATH) >= 25, ANALYTIC_PATH
    calls = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda *a, **k: calls.append(a) or real(*a, **k))
    x = torch.randn(4, 6)
    for name in ANALYTIC_PATH:
        module = actlab.get(name)
        module(x.clone().requires_grad_(True)).sum().backward()
        with torch.no_grad():
            module(x)
        module(x)  # grad mode, but x does not require grad
    assert calls == [], f"{len(calls)} signature bindings in eager calls"
    torch.func.grad(lambda t: actlab.get("softsign")(t).sum())(x)
    assert calls, "under torch.func.grad the Function's apply (with setup_context) must run"


@pytest.mark.parametrize("name", ANALYTIC_PATH)
def test_the_analytic_paths_branches_agree(name):
    """The three ways the analytic path runs give the same values, gradients and tangents, bit for bit: the
    formula alone (nothing differentiated), the plain Function (eager autograd) and Function.apply (what
    torch.func and torch.compile get); the backward node is the plain Function's."""
    module = actlab.get(name)
    x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    g = torch.randn(module(x).shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y_alone = module(x)
    xp = x.clone().requires_grad_(True)
    y_plain = module(xp)
    assert y_plain.grad_fn.name().endswith("PlainFunctionBackward"), y_plain.grad_fn.name()
    (d_plain,) = torch.autograd.grad(y_plain, xp, g)
    # Function.apply itself, as under a transform: torch.func.vjp runs it with setup_context.
    y_apply, vjp = torch.func.vjp(module, x)
    (d_apply,) = vjp(g)
    assert torch.equal(y_alone, y_plain.detach()) and torch.equal(y_alone, y_apply)
    assert torch.equal(d_plain, d_apply)
    # forward mode (a dual level open: the plain Function's jvp) against torch.func.jvp (apply's)
    import torch.autograd.forward_ad as fwAD

    t = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with fwAD.dual_level():
        tangent_plain = fwAD.unpack_dual(module(fwAD.make_dual(x, t))).tangent
    _, tangent_apply = torch.func.jvp(module, (x,), (t,))
    assert torch.equal(tangent_plain, tangent_apply)


@pytest.mark.parametrize("name", ["identity", "binary_step"])
def test_composite_kept_where_it_keeps_no_more_than_the_input(name):
    module = actlab.get(name)
    assert module.path == "composite"
    x = torch.randn(64, requires_grad=True)
    _, kept = _saved(module, x)
    assert sum(t.untyped_storage().nbytes() for t in kept) < x.untyped_storage().nbytes()


def test_path_choice_ignores_grad_mode():
    with torch.inference_mode():
        assert actlab.get("silu", beta=3.0).path == "analytic"
    with torch.no_grad():
        assert actlab.get("softsign").path == "analytic"
    assert actlab.get("silu").path == "native"
    assert actlab.get("silu", beta="learnable").path == "composite"


def test_benchmark_script_writes_its_table(tmp_path, monkeypatch):
    """bench/bench_activations.py end to end on a tiny tensor (timings not asserted, only the report)."""
    import importlib.util
    import pathlib

    script = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_activations.py"
    monkeypatch.syspath_prepend(str(script.parent))
    spec = importlib.util.spec_from_file_location("bench_activations", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "machine_info", lambda: {  # skip the 2048^2 matmul yardstick
        "cpu": "test CPU", "cores": 1, "threads": 1, "torch": torch.__version__, "python": "3", "matmul_gflops": 1.0})
    out = tmp_path / "results" / "activations.md"
    assert bench.main(["--numel", "4096", "--threads", "1", "--clock", "cpu", "--markdown", str(out),
                       "--only", "relu", "gelu_sigmoid", "identity"]) == 0
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| activation")}
    assert set(rows) == {"relu", "gelu_sigmoid", "identity"}
    assert rows["relu"][1] == "native" and rows["gelu_sigmoid"][1] == "analytic" and rows["identity"][1] == "composite"
    # saved bytes per element: actlab | analytic | composite | native (float32)
    actlab_b, analytic_b, composite_b, native_b = (c.strip(" |") for c in rows["gelu_sigmoid"][-4:])
    assert (actlab_b, analytic_b, native_b) == ("4.0", "4.0", "-") and float(composite_b) > 4.0
    assert [c.strip(" |") for c in rows["identity"][-4:]] == ["0.0", "4.0", "0.0", "-"]
    with pytest.raises(SystemExit):
        bench.main(["--clock", "cpu", "--threads", "2"])


def test_overhead_benchmark_writes_its_table(tmp_path, monkeypatch):
    """bench/bench_overhead.py end to end on a few activations (timings not asserted: the report's shape, and
    that each column is there where the activation has it)."""
    import importlib.util
    import pathlib

    script = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_overhead.py"
    monkeypatch.syspath_prepend(str(script.parent))
    spec = importlib.util.spec_from_file_location("bench_overhead", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "machine_info", lambda: {
        "cpu": "test CPU", "cores": 1, "threads": 1, "torch": torch.__version__, "python": "3", "matmul_gflops": 1.0})
    out = tmp_path / "overhead.md"
    assert bench.main(["--numel", "64", "--calls", "2", "--repeats", "5", "--markdown", str(out),
                       "--only", "relu", "softsign", "geglu", "gelu"]) == 0
    text = out.read_text()
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and " µs" not in line
            and not line.startswith("| **")]
    assert [r[0].strip("| ") for r in rows] == ["relu", "softsign", "geglu", "gelu"] * 2
    by_name = {r[0].strip("| "): [c.strip(" |") for c in r] for r in rows[:4]}
    # columns: name, path, actlab, functional, torch, op, before, then the four ratios
    assert by_name["relu"][1] == "native" and by_name["relu"][6] == "-" and by_name["relu"][4] != "-"
    assert by_name["softsign"][1] == "analytic" and by_name["softsign"][6] != "-" and by_name["softsign"][5] == "-"
    assert by_name["geglu"][4] == "-" and by_name["geglu"][6] != "-"  # no torch.nn module; its Function before
    assert all(float(c) > 0 for c in by_name["geglu"][2:4])
    assert "- Inference: actlab's module against PyTorch's own module: median" in text
    with pytest.raises(SystemExit):
        bench.main(["--only", "no_such_activation"])


@pytest.mark.parametrize("name, bare", [
    ("glu", lambda x, m: torch.nn.functional.glu(x, -1)),
    ("prelu", lambda x, m: torch.nn.functional.prelu(x, m.weight)),
    ("relu", lambda x, m: torch.relu(x)),
])
def test_a_native_module_runs_no_op_beyond_pytorchs(name, bare):
    """On a small tensor each extra op costs a microsecond or more, about the op itself: a module on the
    native path runs exactly the ops PyTorch's own call runs (GLU's odd-size check reads the shape without
    splitting x; PReLU's own weight is already 1-D in x's dtype; softmax at T = 1: test_catalog_vector.py)."""
    import collections

    module = actlab.get(name)
    x = torch.randn(8, 6)

    def ops(f):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            f()
        return collections.Counter(e.name for e in prof.events())

    assert module.path == "native"
    with torch.no_grad():
        assert ops(lambda: module(x)) == ops(lambda: bare(x, module))


def test_a_parameter_at_1_costs_no_pass():
    """1 * x and y / 1 are x and y to the bit, so at beta = 1 softplus (forward and derivative) and Swish's
    gate (SwiGLU) skip them: a pass over the tensor each. At beta = 2 they run."""
    import collections

    x = torch.randn(8, 6)

    def ops(f):
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            f()
        return collections.Counter(e.name for e in prof.events())

    for beta, runs in ((1.0, False), (2.0, True)):
        softplus = actlab.get("softplus", beta=beta)
        with torch.no_grad():
            forward, derivative = ops(lambda: softplus(x)), ops(lambda: softplus.derivative(x))
        assert ("aten::mul" in forward and "aten::div" in forward) == runs, (beta, forward)
        assert ("aten::mul" in derivative) == runs, (beta, derivative)
        swiglu = actlab.get("swiglu", beta=beta)
        with torch.no_grad():
            gated = ops(lambda: swiglu(x))
        assert gated["aten::mul"] == (3 if runs else 2), (beta, gated)  # beta * b, b * sigma, a * gate
