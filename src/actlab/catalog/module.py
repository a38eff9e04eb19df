"""torch.nn.Module classes derived from the definitions.

One class per activation is generated from its :class:`Activation` (PyTorch's
style: constructor arguments are the activation's parameters, validated at
construction). Inside ``forward`` the module picks, in this order:

1. PyTorch's native op, where it has the same definition for these parameters;
2. otherwise, when nothing is learned and plain autograd of the formula would
   keep more for backward than the input itself, an ``autograd.Function``
   that saves only the input and uses the analytic derivative in backward
   (timm's "memory efficient" idea: ``x * sigmoid(b x)`` would otherwise keep
   x, the sigmoid and the product's operands, 12 bytes per float32 element
   instead of 4; bench/results/activations.md has the measurements);
3. otherwise the composite formula: autograd then reaches learned parameters,
   and where the formula keeps no more than the input (identity keeps
   nothing, the binary step a 1-byte mask) it is also faster than the
   Function, which recomputes the derivative in backward.
"""
from __future__ import annotations

import torch
from torch import nn

from .spec import LEARNABLE, Activation


def as_float_tensor(x) -> torch.Tensor:
    """Accept tensors, arrays and numbers; promote integer/bool to the default float dtype.

    Integer tensors are promoted (documented behaviour) because an activation
    of an integer is almost never integral; complex input is refused.
    """
    if not torch.is_tensor(x):
        x = torch.as_tensor(x)
    if x.is_complex():
        raise TypeError(
            f"actlab activations take real tensors; got dtype {x.dtype}. "
            "Apply the activation to x.real and x.imag separately if that is what you mean."
        )
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


def saved_tensors(fn, x: torch.Tensor) -> list[torch.Tensor]:
    """The distinct tensors autograd keeps for backward while computing ``fn(x)``.

    Distinct by storage: one buffer saved by two ops is kept once, so it is
    listed once. ``x`` must require grad.
    """
    found: dict[int, torch.Tensor] = {}

    def pack(t):
        found.setdefault(t.untyped_storage().data_ptr(), t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return list(found.values())


_KEEPS_MORE: dict[tuple, bool] = {}


def composite_keeps_more_than_input(spec: Activation, fixed: dict) -> bool:
    """Would plain autograd of ``spec.forward`` keep more bytes per element than x itself?

    Probed once per (activation, parameters) on a small float32 tensor: the
    graph of an elementwise formula does not depend on the size. Only
    full-size tensors count; saved scalars are negligible at real sizes.
    """
    key = (spec.name, tuple(sorted(fixed.items())))
    if key not in _KEEPS_MORE:
        # Modules are often built under no_grad or inference_mode; the probe needs a graph.
        with torch.inference_mode(False), torch.enable_grad():
            x = torch.linspace(-4.0, 4.0, 16, dtype=torch.float32, requires_grad=True)
            kept = saved_tensors(lambda t: spec.forward(t, **fixed), x)
        total = sum(t.untyped_storage().nbytes() for t in kept if t.numel() == x.numel())
        _KEEPS_MORE[key] = total > x.numel() * x.element_size()
    return _KEEPS_MORE[key]


def _make_function(spec: Activation, names: tuple[str, ...]) -> type[torch.autograd.Function]:
    """An autograd.Function that keeps only x and differentiates analytically."""

    def forward(ctx, x, *values):
        ctx.save_for_backward(x)
        ctx.values = values
        return spec.forward(x, **dict(zip(names, values)))

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        d = spec.derivative(x, **dict(zip(names, ctx.values)))
        return (grad * d,) + (None,) * len(ctx.values)

    return type(f"_{spec.class_name}Function", (torch.autograd.Function,),
                {"forward": staticmethod(forward), "backward": staticmethod(backward)})


class ActivationModule(nn.Module):
    """Base class of every generated activation module.

    ``derivative(x)`` returns the analytic f'(x) (not autograd's), elementwise
    and with x's shape and dtype. Learned parameters are ``nn.Parameter``s, so
    they train, save and load with ``state_dict`` like any weight.
    """

    spec: Activation
    _function: type[torch.autograd.Function] | None = None

    def __init__(self, **params):
        super().__init__()
        spec = self.spec
        resolved = spec.resolve_params(params)
        self.params = resolved
        self._fixed: dict = {}
        self._learned: list[str] = []
        for p in spec.params:
            value = resolved[p.name]
            if p.always_learned or value == LEARNABLE:
                init = p.default if value == LEARNABLE else value
                n = resolved.get("num_parameters", 1)
                self.register_parameter(p.name, nn.Parameter(torch.full((n,), float(init))))
                self._learned.append(p.name)
            elif p.passed:
                self._fixed[p.name] = value
        self._native = spec.native is not None and spec.native_when(resolved)
        self.path = self._choose_path()

    def _choose_path(self) -> str:
        """Which implementation forward uses: "native", "analytic" or "composite" (see the module docstring)."""
        if self._native:
            return "native"
        if self._learned or self._function is None:
            return "composite"
        return "analytic" if composite_keeps_more_than_input(self.spec, self._fixed) else "composite"

    def _kwargs(self) -> dict:
        kw = dict(self._fixed)
        for name in self._learned:
            kw[name] = getattr(self, name)
        return kw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_float_tensor(x)
        kw = self._kwargs()
        if self.spec.stochastic and self.training:
            return self.spec.native(x, training=True, **kw)
        if self.path == "native":
            return self.spec.native(x, **kw)
        if self.path == "composite":
            return self.spec.forward(x, **kw)
        return self._function.apply(x, *kw.values())

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Analytic derivative f'(x), elementwise (evaluation-mode for RReLU)."""
        kw = {k: (v.to(dtype=as_float_tensor(x).dtype) if torch.is_tensor(v) else v)
              for k, v in self._kwargs().items()}
        return self.spec.derivative(as_float_tensor(x), **kw)

    def numpy(self, x):
        """The same function on NumPy arrays (computed in float64 with torch's CPU ops)."""
        import numpy as np

        with torch.no_grad():
            return self.forward(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.items())


class VectorActivationModule(ActivationModule):
    """A function of a whole vector (softmax): the derivative is a Jacobian."""

    def _dim(self, x) -> int:
        return self._fixed["dim"] % x.dim()

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Full Jacobian along ``dim``: shape x.shape + (n,), moved so the last two axes are (i, j)."""
        x = as_float_tensor(x)
        t = self._fixed["temperature"]
        y = torch.movedim(self.spec.forward(x, **self._fixed), self._dim(x), -1)
        return (torch.diag_embed(y) - y.unsqueeze(-1) * y.unsqueeze(-2)) / t

    def jvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Jacobian-vector product J(x) v, without forming J (J is symmetric, so also v^T J)."""
        x = as_float_tensor(x)
        t, dim = self._fixed["temperature"], self._fixed["dim"]
        y = self.spec.forward(x, **self._fixed)
        return y * (v - (y * v).sum(dim=dim, keepdim=True)) / t


def make_module_class(spec: Activation) -> type[ActivationModule]:
    base = VectorActivationModule if spec.vector else ActivationModule
    names = tuple(p.name for p in spec.params if p.passed)
    ns = {
        "spec": spec,
        "__doc__": docstring(spec),
        "__module__": "actlab.modules",
        "_function": None if spec.vector or spec.stochastic else _make_function(spec, names),
    }
    return type(spec.class_name, (base,), ns)


def docstring(spec: Activation) -> str:
    """The generated docstring: description, formula, derivative, parameters."""
    lines = [f"{spec.title}.", "", spec.description, "", ".. math::", "", f"    {spec.formula}",
             "", "Derivative:", "", ".. math::", "", f"    {spec.dformula}", ""]
    if spec.params:
        lines.append("Args:")
        for p in spec.params:
            lines.append(f"    {p.name}: {p.doc}. Default {p.default!r}; valid {p.range_text()}.")
        lines.append("")
    lines += ["Shape:", "    Input: any shape. Output: same shape as the input.", ""]
    for note in spec.notes:
        lines.append(f"Note: {note}")
    lines += ["", "Examples:", f"    >>> act = actlab.get({spec.name!r})",
              "    >>> y = act(torch.randn(4)); dy = act.derivative(torch.randn(4))"]
    if spec.references:
        lines += ["", "References:"] + [f"    {r}" for r in spec.references]
    return "\n".join(lines)
