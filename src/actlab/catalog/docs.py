r"""Docstrings generated from the definitions, in the style of ``jax.nn``.

Every module class (``actlab.modules.ELU``), every function
(``actlab.functional.elu``) and every derivative function
(``actlab.functional.elu_derivative``) gets its docstring here, from the one
definition: the formula, the arguments with defaults and valid ranges, the
shape, the edge behaviour (the derivative at each kink from both sides and
the value actlab gives there, the limits at +-inf), aliases, the frameworks'
names and defaults (``frameworks.py``), a worked example whose numbers are
computed from the definition, "See also" and references. The stub files
(``modules.pyi``, ``functional.pyi``; ``tools/make_stubs.py``) carry the same
text, so that ``grep "class ELU"`` and an editor's go-to-definition land on it.
"""
from __future__ import annotations

import math
import re
import textwrap

import torch

from . import definitions
from .entries import ALL
from .frameworks import counterparts
from .spec import Activation

EXAMPLE_X = (-2.0, -1.0, 0.0, 1.0, 2.0)
# Vector and gated units need an even-sized last dimension (a gated unit splits it in two).
EXAMPLE_X_VECTOR = (-1.0, 0.0, 1.0, 2.0)


def kink_convention() -> str:
    """The derivative's value at kinks, in the words definitions.py states it once (its docstring)."""
    text = " ".join((definitions.__doc__ or "").split())
    found = re.search(r"Conventions, stated once: (at a kink [^;]*)", text)
    if not found:
        raise RuntimeError("catalog/definitions.py's docstring no longer states the kink convention "
                           "('Conventions, stated once: at a kink ...;'); restore it or update catalog/docs.py")
    return found.group(1)[0].upper() + found.group(1)[1:] + "."


def is_elementwise(spec: Activation) -> bool:
    return not (spec.vector or getattr(spec, "gated", False))


def _num(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return "0" if v == 0 else f"{v:.4g}"


def _wrap(text: str, indent: str = "", first: str | None = None) -> list[str]:
    """``text`` wrapped to 88 columns: the first line after ``first``, the rest after ``indent``."""
    return textwrap.wrap(text, 88, initial_indent=indent if first is None else first, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)


def _call_defaults(spec: Activation) -> dict:
    return spec.formula_params(spec.defaults())


def _values(fn, xs) -> list[float]:
    with torch.no_grad():
        return fn(torch.tensor(xs, dtype=torch.float64)).reshape(-1).tolist()


def example_values(spec: Activation) -> tuple[list[float], list[float] | None]:
    """f and (for elementwise activations) f' on the example input, from the definition, rounded to 4 places."""
    p = _call_defaults(spec)
    xs = EXAMPLE_X if is_elementwise(spec) else EXAMPLE_X_VECTOR
    f = [round(v, 4) for v in _values(lambda x: spec.forward(x, **p), xs)]
    d = [round(v, 4) for v in _values(lambda x: spec.derivative(x, **p), xs)] if is_elementwise(spec) else None
    return f, d


def _edges(spec: Activation) -> list[str]:
    """Edge behaviour at the default parameters: kinks (both sides and the value used) and limits."""
    lines = ["NaN in gives NaN out."]
    if not is_elementwise(spec):
        return lines
    params = spec.defaults()
    p = spec.formula_params(params)

    def f(x):
        return _values(lambda t: spec.forward(t, **p), [x])[0]

    def d(x):
        return _values(lambda t: spec.derivative(t, **p), [x])[0]

    for k in spec.kinks_at(params):
        h = 1e-9 * max(1.0, abs(k))
        left, at, right = d(k - h), d(k), d(k + h)
        if abs(f(k + h) - f(k - h)) > 1e-6:
            lines.append(f"f jumps at {_num(k)} (from {_num(f(k - h))} to {_num(f(k + h))}, "
                         f"f({_num(k)}) = {_num(f(k))}); f'({_num(k)}) is reported as {_num(at)}.")
        elif _num(left) == _num(right):
            lines.append(f"f'({_num(k)}) = {_num(at)}; f' is continuous there (a higher derivative jumps).")
        else:
            lines.append(f"f'({_num(k)}) = {_num(at)}: the slope is {_num(left)} from the left and "
                         f"{_num(right)} from the right.")
    lo_f, hi_f = _values(lambda t: spec.forward(t, **p), [-math.inf, math.inf])
    lo_d, hi_d = _values(lambda t: spec.derivative(t, **p), [-math.inf, math.inf])
    lines.append(f"Limits: f(-inf) = {_num(lo_f)}, f(inf) = {_num(hi_f)}; "
                 f"f'(-inf) = {_num(lo_d)}, f'(inf) = {_num(hi_d)}.")
    lo, hi = spec.bounds
    lines.append(f"Range: {_num(lo)} to {_num(hi)}.")
    if spec.kinks_at(params):
        lines.append(kink_convention())
    if spec.params:
        lines.append("Values above are for the default parameters.")
    return lines


def _framework_lines(spec: Activation) -> list[str]:
    out = []
    for c in counterparts(spec):
        to_actlab = {c.rename.get(q.name, q.name): q.name for q in spec.params}
        notes = []
        for arg, value in c.defaults.items():
            mine = to_actlab.get(arg)
            if mine is None:
                if c.args.get(arg, value) != value:
                    notes.append(f"its default {arg}={value!r} is a different function")
            elif spec.param(mine).default == value:
                notes.append(f"default {arg}={value!r}, as here")
            else:
                notes.append(f"default {arg}={value!r}; actlab's {mine} defaults to {spec.param(mine).default!r}")
        if c.fixed:
            notes.append("only " + ", ".join(f"{k}={v!r}" for k, v in c.fixed.items()))
        if c.cancels:
            notes.append(f"less precise: it {c.cancels}")
        out.append(f"{c.framework}: ``{c.call_text()}``" + (f" ({'; '.join(notes)})" if notes else ""))
    return out


def _catalog() -> tuple[Activation, ...]:
    return ALL


def _see_also(spec: Activation, kind: str) -> list[str]:
    out = []
    if kind != "module":
        out.append(f"actlab.modules.{spec.class_name}: the same as a torch.nn.Module.")
    if kind != "function":
        out.append(f"actlab.functional.{spec.name}: the same as a function.")
    if kind != "derivative":
        out.append(f"actlab.functional.{spec.name}_derivative: the analytic derivative f'.")
    if spec.vector and kind != "jvp":
        out.append(f"actlab.functional.{spec.name}_jvp: the Jacobian-vector product J(x) v.")
    others = [a for a in _catalog() if a.family == spec.family and a.name != spec.name][:4]
    if others:
        where = "actlab.modules." if kind == "module" else "actlab.functional."
        names = ", ".join(where + (a.class_name if kind == "module" else a.name) for a in others)
        out.append(f"{names}: the same family ({spec.family}).")
    out.append(f"actlab show {spec.name}: computed properties, pros and cons.")
    return out


def _args(spec: Activation, kind: str) -> list[str]:
    items = []
    if kind != "module":
        items.append("x: the input tensor (an array or a number is converted; integer input is "
                     "promoted to the default float dtype).")
    if kind == "jvp":
        items.append("v: the tangent vector, shaped like x.")
    for q in spec.params:
        if kind != "module" and not q.passed:
            continue  # shapes a module's parameter tensor; a function takes the tensor itself
        if kind != "module" and (q.can_learn or q.always_learned):
            numbers = q.range_text().replace(" or 'learnable'", "")
            items.append(f"{q.name}: {q.doc}. A number in {numbers} or a tensor (e.g. a learned "
                         f"nn.Parameter). Default {q.default!r}.")
        else:
            items.append(f"{q.name}: {q.doc}. Default {q.default!r}; valid {q.range_text()}.")
    if kind != "module" and spec.stochastic:
        items.append("training: draw random slopes as in training (default False: evaluation mode, "
                     "as torch.nn.functional.rrelu).")
    return items


def _section(title: str, items: list[str]) -> list[str]:
    """A docstring section: the title, then each item indented, continuation lines indented further."""
    if not items:
        return []
    out = [title]
    for item in items:
        out += _wrap(item, indent="        ", first="    ")
    return out + [""]


def _shape(spec: Activation, kind: str = "module") -> str:
    if kind == "derivative" and getattr(spec, "gated", False):
        return "the Jacobian's two diagonals (df/da, df/db) side by side, shaped like x."
    if kind == "derivative" and spec.vector:
        return "the Jacobian's diagonal along dim, shaped like x."
    if getattr(spec, "gated", False):
        return "input: even size along dim; output: the input's shape with that size halved."
    if spec.vector:
        return "any shape, normalised along dim; output: the same shape as the input."
    return "any shape; output: the same shape as the input."


def _example(spec: Activation, kind: str) -> list[str]:
    f, d = example_values(spec)
    xs = EXAMPLE_X if is_elementwise(spec) else EXAMPLE_X_VECTOR
    package = "actlab.modules" if kind == "module" else "actlab.functional"
    out = ["Examples:", f"    >>> import torch, {package}",
           f"    >>> x = torch.tensor({list(xs)!r}, dtype=torch.float64)"]
    if kind == "module":
        build = f"actlab.modules.{spec.class_name}()" + (".eval()" if spec.stochastic else "")
        why = "evaluation mode: the mean slope" if spec.stochastic else f"or actlab.get({spec.name!r})"
        out += [f"    >>> act = {build}  # {why}",
                "    >>> [round(v, 4) for v in act(x).tolist()]", f"    {f!r}"]
        if d is not None:
            out += ["    >>> [round(v, 4) for v in act.derivative(x).tolist()]", f"    {d!r}"]
    elif kind == "function":
        out += [f"    >>> [round(v, 4) for v in actlab.functional.{spec.name}(x).tolist()]", f"    {f!r}"]
    elif kind == "jvp":
        out += [f"    >>> actlab.functional.{spec.name}_jvp(x, torch.ones_like(x)).shape",
                f"    torch.Size([{len(f)}])"]
    elif d is not None:
        out += [f"    >>> [round(v, 4) for v in actlab.functional.{spec.name}_derivative(x).tolist()]", f"    {d!r}"]
    else:
        out += [f"    >>> actlab.functional.{spec.name}_derivative(x).shape", f"    torch.Size([{len(xs)}])"]
    return out


def docstring(spec: Activation, kind: str = "module") -> str:
    """The docstring of ``spec``'s module class (``kind="module"``), function or derivative function.

    Args:
        spec: the definition.
        kind: "module", "function", "derivative" or "jvp".

    Returns:
        The docstring text.
    """
    if kind not in ("module", "function", "derivative", "jvp"):
        raise ValueError(f"docstring kind must be 'module', 'function', 'derivative' or 'jvp', not {kind!r}")
    if kind == "jvp":
        head = [f"Jacobian-vector product of {spec.title}: J(x) v, without forming J.", "",
                "The Jacobian:", "", ".. math::", "", f"    {spec.dformula}", ""]
    elif kind == "derivative":
        head = [f"Derivative of {spec.title}: the analytic f'(x), not autograd's.", "",
                ".. math::", "", f"    {spec.dformula}", ""]
    else:
        head = [f"{spec.title}.", "", *_wrap(spec.description), "", ".. math::", "", f"    {spec.formula}", "",
                "Derivative:", "", ".. math::", "", f"    {spec.dformula}", ""]
    lines = head + _section("Args:", _args(spec, kind))
    if kind == "module":
        lines += _section("Shape:", [f"Input: {_shape(spec)}"])
    else:
        what = {"function": "f(x)", "derivative": "f'(x)", "jvp": "J(x) v"}[kind]
        shape = "shaped like f(x)." if kind == "jvp" else _shape(spec, kind)
        lines += _section("Returns:", [f"{what}, a tensor; {shape}"])
    lines += _section("Edge behaviour:", _edges(spec))
    if spec.aliases:
        lines += _wrap(f"Aliases (for actlab.get): {', '.join(spec.aliases)}.") + [""]
    lines += _section("Frameworks:", _framework_lines(spec))
    for note in spec.notes:
        lines += _wrap(f"Note: {note}", indent="    ", first="")
    lines += ([""] if spec.notes else []) + _example(spec, kind) + [""]
    lines += _section("See also:", _see_also(spec, kind))
    lines += _section("References:", list(spec.references))
    return "\n".join(lines).rstrip("\n")


def functional_markdown() -> str:
    """The "Functional API" section of docs/catalog.md: usage, and one row per activation with its
    function, derivative, module class and the frameworks' counterparts (from ``frameworks.py``)."""
    rows = ["| function | module | PyTorch | JAX | Keras |", "|---|---|---|---|---|"]
    for spec in _catalog():
        params = ", ".join(f"{q.name}={q.default!r}" for q in spec.params if q.passed)
        cells = {"PyTorch": [], "JAX": [], "Keras": []}
        for c in counterparts(spec):
            cells[c.framework].append(f"`{c.call_text()}`")
        rows.append(f"| `{spec.name}(x{', ' + params if params else ''})`, `{spec.name}_derivative` | "
                    f"`{spec.class_name}` | " + " | ".join("<br>".join(v) or "-" for v in cells.values()) + " |")
    return "\n".join([
        "## Functional API", "",
        "Every activation is also a function, as in `torch.nn.functional` and `jax.nn`: "
        "`actlab.functional.NAME(x, **parameters)` returns bit for bit what the module "
        "`actlab.get(NAME, **parameters)(x)` returns (it runs the same module, so the same native op, "
        "analytic `autograd.Function` or formula, and the same validation and error messages), and "
        "`actlab.functional.NAME_derivative(x, **parameters)` the analytic f'(x); vector and gated "
        "units also have `NAME_jvp(x, v, **parameters)`, the Jacobian-vector product. Parameters are "
        "numbers; one that a module can learn may also be a tensor, and gradients reach it. "
        "Vector and gated units take `dim`; `rrelu` takes `training` (default False).", "",
        "```python",
        "import torch, actlab.functional as AF",
        "x = torch.linspace(-3, 3, 7)",
        "AF.elu(x, alpha=0.5)                                    # = actlab.get('elu', alpha=0.5)(x)",
        "AF.elu_derivative(x, alpha=0.5)                         # f'(x), analytic",
        "AF.silu(x, beta=torch.tensor(1.5, requires_grad=True))  # a learned beta of your own",
        "AF.swiglu(torch.randn(4, 16), dim=-1)                   # gated: (4, 16) -> (4, 8)",
        "AF.softmax_jvp(x, torch.eye(7)[0])                      # J(x) v: a column of J, without forming J",
        "```", "",
        "Each function and each module class carries the same docstring: formula, arguments with "
        "defaults and ranges, edge behaviour (the slope on both sides of every kink and the value "
        "used there, the limits at +-inf), the frameworks' names and defaults, a worked example and "
        "\"See also\" (`help(actlab.functional.gelu)`). For editors and `grep`, "
        "`src/actlab/modules.pyi` and `src/actlab/functional.pyi` declare every class and function; "
        "`make stubs` regenerates them after a definition changes (a test fails until then). "
        "The framework columns are checked in code by `tests/test_parity_jax.py`: values agree "
        "within a few ulps on a float64 grid, and every default shown is the framework's.", "",
        *rows,
    ])
