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
   Function, which recomputes the derivative in backward; the formula
   without learned parameters serves only where autograd's gradient at each
   kink is the definition's derivative (a sum of clamps is not: clamp's
   backward counts both ends as inside).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from . import fused
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


_KINKS_AGREE: dict[tuple, bool] = {}


def composite_agrees_at_kinks(spec: Activation, params: dict, fixed: dict) -> bool:
    """Does plain autograd of ``spec.forward`` give the definition's derivative at each of its kinks?

    A formula's gradient at a kink is whatever its ops' backward says there (clamp's counts both ends as
    inside, where's takes the selected side), while the catalog's convention is its ``derivative``
    (PyTorch's one-sided choice for its own ops). A formula that keeps no more than x may serve as the
    module's path only where the two agree. Probed once per (activation, parameters) in float64.
    """
    key = (spec.name, tuple(sorted(fixed.items())))
    if key not in _KINKS_AGREE:
        kinks = [float(k) for k in spec.kinks_at(params) if math.isfinite(float(k))]
        agree = True
        if kinks:
            with torch.inference_mode(False), torch.enable_grad():
                x = torch.tensor(kinks, dtype=torch.float64, requires_grad=True)
                (grad,) = torch.autograd.grad(spec.forward(x, **fixed).sum(), x, allow_unused=True)
            grad = torch.zeros_like(x) if grad is None else grad
            want = spec.derivative(x.detach(), **fixed)
            agree = bool(torch.isclose(grad, want, rtol=1e-12, atol=1e-300, equal_nan=True).all())
        _KINKS_AGREE[key] = agree
    return _KINKS_AGREE[key]


class NativeFaults(NamedTuple):
    """What :func:`native_faults` found about one op in one dtype on one device."""

    forward: bool  # its value at -inf, +inf or NaN is not the definition's
    backward: bool  # its autograd gradient there is not the derivative, or depends on the length


_NATIVE_FAULTS: dict[tuple, NativeFaults] = {}


def _agree(got: torch.Tensor, want: torch.Tensor) -> torch.Tensor:
    """Elementwise: the same NaN, the same infinity, or finite values within a few ulps."""
    eps = float(torch.finfo(got.dtype).eps)
    return torch.isclose(got.double(), want.double(), rtol=8 * eps, atol=0.0, equal_nan=True)


def native_faults(spec: Activation, kw: dict, dtype: torch.dtype, device: torch.device) -> NativeFaults:
    """Is PyTorch's op wrong at +-inf or NaN, in its forward and in its backward, here?

    Probed once per process, activation, parameters, dtype and device (the CPU
    kernels are picked once per process by the CPU's capability, so this is
    per machine and per ``ATEN_CPU_CAPABILITY``): the op's values at -inf, +inf
    and NaN are compared with the definition's own formula, and its autograd
    gradient there with the definition's derivative, at lengths 1 and 67 so
    that both PyTorch's scalar loop and its vectorised body (with a scalar
    tail) are seen. Nothing about any CPU is assumed: a PyTorch that fixes an
    op makes its guard disappear, and one that breaks another is caught.

    Returns:
        NativeFaults(forward, backward); :func:`native_trusted` says what the
        module does with it.
    """
    key = (spec.name, tuple(sorted(kw.items())), dtype, device.type, torch.backends.cpu.get_cpu_capability())
    if key not in _NATIVE_FAULTS:
        # The probe builds its own graph, also when the caller is in inference mode or under no_grad.
        with torch.inference_mode(False), torch.enable_grad():
            edges = torch.tensor([-math.inf, math.inf, math.nan], dtype=dtype, device=device)
            with torch.no_grad():
                forward_right = bool(_agree(spec.native(edges, **kw), spec.forward(edges, **kw)).all())
                want = spec.derivative(edges, **kw)
            backward_right = True
            for i in range(3):
                for n in (1, 67):
                    x = edges[i].expand(n).clone().requires_grad_(True)
                    spec.native(x, **kw).sum().backward()
                    backward_right &= bool(_agree(x.grad, want[i].expand(n)).all())
        _NATIVE_FAULTS[key] = NativeFaults(not forward_right, not backward_right)
    return _NATIVE_FAULTS[key]


def native_bound(native_range, dtype: torch.dtype) -> float:
    """The largest |x| a declared ``native_range`` lets PyTorch's op see in ``dtype``.

    A number r: r * finfo(dtype).max (1: every finite value). A function of
    the dtype: its absolute bound, for ops that fail at a power of the
    largest value rather than a fraction of it (GELU-tanh's gradient squares x).
    """
    if callable(native_range):
        return float(native_range(dtype))
    return native_range * torch.finfo(dtype).max


def _checks_every_finite(native_range) -> bool:
    return not callable(native_range) and native_range >= 1.0


def native_is_exact_on(x: torch.Tensor, native_range) -> bool:
    """Is every element of x finite with |x| <= :func:`native_bound` (native_range, x.dtype)?

    One read of x and, off the CPU, one synchronisation. With native_range 1
    (finite is enough) that read is a sum: it is finite only if no element is
    NaN or infinite (a finite sum that overflows is a false alarm and merely
    takes the exact path). Otherwise a fused min/max, where a NaN fails both
    comparisons. Within a forward+backward pass every reduction tried costs
    the same, one read of x at memory speed (sum, dot product x . x, amax,
    aminmax: bench/results/guard.md), so the simplest with the fewest false
    alarms is kept. Under ``torch.compile`` this is False, so the compiled
    graph takes the definition's own formula (which the compiler fuses) with
    no data-dependent branch.
    """
    if x.numel() == 0:
        return True
    if torch.compiler.is_compiling():
        return False
    # Compared in Python: a tensor comparison would be one more dispatch, felt on small tensors.
    with torch.no_grad():
        if _checks_every_finite(native_range):
            # float16/bfloat16 sums are accumulated and returned in float32, so they do not overflow early.
            return math.isfinite(x.sum(dtype=torch.promote_types(x.dtype, torch.float32)).item())
        bound = native_bound(native_range, x.dtype)
        lo, hi = torch.aminmax(x)
        return -bound <= lo.item() and hi.item() <= bound


def native_trusted(spec: Activation, kw: dict, x: torch.Tensor, cache: Optional[dict] = None,
                   read: bool = True) -> bool:
    """May the module hand x to ``spec.native`` and still give the definition's values and gradients?

    Yes without reading x when the op declares no ``native_range``, or when
    :func:`native_faults` finds it right at +-inf and NaN in this dtype (its
    backward too, when autograd will differentiate this call) and the declared
    range is the whole dtype: ELU, CELU, SELU, hardtanh, ReLU6 and the
    shrinks, whose only fault is a NaN input's gradient, run unchecked in
    inference. Otherwise only if :func:`native_is_exact_on` finds x finite and
    in range. Inside ``torch.func`` transforms (vmap, grad, jvp, jacrev),
    where a data-dependent branch cannot be taken (``vmap`` has no
    ``.item()``), and under ``torch.compile``, the answer is no: the module
    takes its analytic Function, which both support.

    ``cache`` (a module's own dict) keeps the probe's answer per (dtype,
    device), so that a call costs no more Python than a dict lookup. With
    ``read=False`` the answer is no where it would take a read of x.
    """
    native_range = spec.native_range
    if native_range is None or x.numel() == 0:
        return True
    if torch.compiler.is_compiling() or torch._C._functorch.peek_interpreter_stack() is not None:
        return False
    if _checks_every_finite(native_range):
        where = (x.dtype, x.device)
        faults = None if cache is None else cache.get(where)
        if faults is None:
            faults = native_faults(spec, kw, x.dtype, x.device)
            if cache is not None:
                cache[where] = faults
        differentiated = torch.is_grad_enabled() and x.requires_grad
        if not (faults.forward or (differentiated and faults.backward)):
            return True
    return read and native_is_exact_on(x, native_range)


def analytic_function(spec: Activation, names: tuple[str, ...], vjp=None, jvp=None) -> type[torch.autograd.Function]:
    """An autograd.Function for ``spec.forward`` that keeps only x and differentiates analytically.

    ``vjp(x, grad, params)`` and ``jvp(x, tangent, params)`` give the input's
    gradient and the output's tangent; by default (an elementwise
    activation) both multiply by ``spec.derivative(x)``. The gated units pass
    their Jacobian's products. Written with ``setup_context`` and a generated
    vmap rule, so ``torch.func.grad``, ``vmap``, ``jvp`` and ``jacrev`` work on
    it as on any PyTorch op.

    Call it through :func:`run_function`, not ``.apply``: ``Function.apply``
    binds its arguments with ``inspect.signature`` on every call when
    ``setup_context`` is defined (about 20 us, twice a small tensor's whole
    forward), so outside transforms and ``torch.compile`` the same Function
    written the older way (``forward(ctx, ...)``, attribute ``plain``) runs,
    and where nothing is differentiated the formula alone (``compute``).
    """
    if vjp is None:
        def vjp(x, grad, p):
            return grad * spec.derivative(x, **p)
    if jvp is None:
        def jvp(x, tangent, p):
            return tangent * spec.derivative(x, **p)

    def compute(x, *values):
        return spec.forward(x, **dict(zip(names, values)))

    def setup_context(ctx, inputs, output):
        x, *values = inputs
        ctx.save_for_backward(x)
        ctx.values = values
        ctx.x_forward = x  # forward mode reads x here: save_for_forward is for tensors the tangent needs

    def plain_forward(ctx, x, *values):
        setup_context(ctx, (x, *values), None)
        return compute(x, *values)

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (vjp(x, grad, dict(zip(names, ctx.values))),) + (None,) * len(ctx.values)

    def forward_tangent(ctx, x_tangent, *value_tangents):
        return jvp(ctx.x_forward, x_tangent, dict(zip(names, ctx.values)))

    common = {"backward": staticmethod(backward), "jvp": staticmethod(forward_tangent)}
    plain = type(f"_{spec.class_name}PlainFunction", (torch.autograd.Function,),
                 {"forward": staticmethod(plain_forward), **common})
    return type(f"_{spec.class_name}Function", (torch.autograd.Function,),
                {"forward": staticmethod(compute), "setup_context": staticmethod(setup_context),
                 "generate_vmap_rule": True, "plain": plain, "compute": staticmethod(compute), **common})


_peek_transform = torch._C._functorch.peek_interpreter_stack  # looked up once: run_function is on the hot path
_compiling = torch.compiler.is_compiling  # Dynamo recognises the function itself, whatever it is called here
_STRIDED = torch.strided


def run_function(function: type[torch.autograd.Function], x: torch.Tensor, *values) -> torch.Tensor:
    """``function.apply(x, *values)`` for a Function from :func:`analytic_function`, at the least cost.

    Under ``torch.compile`` or a ``torch.func`` transform: ``apply`` itself (the
    transforms need ``setup_context``). Where autograd will not differentiate
    the call (no grad mode, or x does not require grad, and no forward-mode
    level open): the formula alone, which is what the Function's forward
    computes. Otherwise the ``plain`` twin, the same Function without
    ``apply``'s per-call signature binding. The values and gradients are
    the same on every branch.
    """
    if torch.compiler.is_compiling() or _peek_transform() is not None:
        return function.apply(x, *values)
    if not (torch.is_grad_enabled() and x.requires_grad) and torch.autograd.forward_ad._current_level < 0:
        return function.compute(x, *values)
    return function.plain.apply(x, *values)


class ActivationModule(nn.Module):
    """Base class of every generated activation module.

    ``derivative(x)`` returns the analytic f'(x) (not autograd's), elementwise
    and with x's shape and dtype. Learned parameters are ``nn.Parameter``s, so
    they train, save and load with ``state_dict`` like any weight.
    """

    spec: Activation
    _function: type[torch.autograd.Function] | None = None
    _fast = None  # fused.cpp's Kernel.fast for this module's kernel, once a call has routed a dtype to it

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
        self._native_faults: dict = {}  # (dtype, device) -> native_faults(...), filled on first use
        self._native_unread: dict = {}  # (dtype, differentiated) -> native_trusted(read=False), on the CPU
        # The compiled kernel's parameters (catalog/fused.py), where the definition has a kernel.
        self._kernel = (tuple(fused.kernel_params(spec, resolved))
                        if self._native and spec.fused is not None and not self._learned else None)
        self._kernel_key = None if self._kernel is None else (spec.name, *self._kernel)
        self.path = self._choose_path()

    @classmethod
    def _function_for(cls, spec: Activation) -> type[torch.autograd.Function] | None:
        """The analytic Function of ``spec``'s module class (None where there is none: vector and stochastic
        units); the gated units' base gives their product's."""
        if spec.vector or spec.stochastic:
            return None
        return analytic_function(spec, tuple(p.name for p in spec.params if p.passed))

    def _choose_path(self) -> str:
        """Which implementation forward uses: "native", "analytic" or "composite" (see the module docstring)."""
        if self._native:
            return "native"
        if self._learned or self._function is None:
            return "composite"
        if composite_keeps_more_than_input(self.spec, self._fixed):
            return "analytic"
        return "composite" if composite_agrees_at_kinks(self.spec, self.params, self._fixed) else "analytic"

    def _kwargs(self) -> dict:
        kw = dict(self._fixed)
        for name in self._learned:
            kw[name] = getattr(self, name)
        return kw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = self._fast
        if fast is not None and not _compiling():
            # fused.cpp's Kernel.fast: the output of the kernel, or of PyTorch's op unread, where the code below
            # would call it, else None (see fused.cpp). One call instead of a dozen attribute checks: the same
            # answer, at a fraction of the cost when the interpreter's data are out of cache. Dynamo sees the
            # check above and never traces the call.
            y = fast(x)
            if y is not None:
                return y
        if self._kernel is not None and self._path == "native" and isinstance(x, torch.Tensor) and fused.applies(x):
            # actlab's fused kernel where built (exact in one pass), or PyTorch's op where the run-time probe
            # finds it exact without reading x (ELU's forward in inference). The choice depends only on the
            # dtype and on whether autograd differentiates this call (the kernels run on the CPU only), so
            # it is kept per those: the call costs a few microseconds of Python less.
            key = (x.dtype, x.requires_grad and torch.is_grad_enabled())
            native = self._native_unread.get(key)
            if native is None and x.numel():  # native_trusted says yes to any empty tensor: not an answer to keep
                native = self._native_unread[key] = native_trusted(
                    self.spec, self._kwargs(), x, self._native_faults, read=False)
            if native is not None and type(x) is torch.Tensor:  # the next such call takes Kernel.fast
                self._learn_route(x, not native)
            if native:
                return self.spec.native(x, **self._fixed)  # a kernel means no learned parameter: the kwargs
            if type(x) is torch.Tensor:  # fused.cpp's Kernel, called directly
                return (fused._KERNELS.get(self._kernel_key) or fused.kernel(self._kernel_key))(x)
            return fused.apply_op()(x, self.spec.name, self._kernel)  # a subclass: its __torch_function__ holds
        if type(x) is not torch.Tensor or not x.is_floating_point():  # the check costs less than the call
            x = as_float_tensor(x)
        if x.layout != _STRIDED:
            return self._forward_not_strided(x)
        spec = self.spec
        kw = self._kwargs() if self._learned else self._fixed  # read, never changed, below
        if spec.stochastic and self.training:
            return spec.native(x, training=True, **kw)
        if self._path == "native":
            # PyTorch's op after one read of x (the guard), where the kernels do not apply; an op with nothing
            # to guard (ReLU, tanh, ...) with no more Python than this.
            if spec.native_range is None or native_trusted(spec, kw, x, self._native_faults):
                return spec.native(x, **kw)
            return run_function(self._function, x, *kw.values())
        if self._path == "composite":
            return self.spec.forward(x, **kw)
        return run_function(self._function, x, *kw.values())

    def _learn_route(self, x: torch.Tensor, use_kernel: bool) -> None:
        """Tell this module's Kernel (where fused.cpp's Python binding is built) whether x's dtype, differentiated
        or not as this call is, takes the kernel or PyTorch's op, and keep its ``fast`` for :meth:`forward`."""
        kernel = fused.kernel(self._kernel_key)
        route = getattr(kernel, "route", None)  # None: the kernels are called through torch.ops
        if route is not None and route(x, use_kernel) and self._fast is None:
            self.__dict__["_fast"] = kernel.fast

    @property
    def path(self) -> str:
        """Which implementation :meth:`forward` uses: "native", "analytic" or "composite" (the module
        docstring). Chosen at construction; setting it makes the module compute by that path from then on."""
        return self._path

    @path.setter
    def path(self, value: str) -> None:
        self.__dict__["_path"] = value
        self.__dict__["_fast"] = None  # the Kernel's one-call path serves the native path only: decide again

    def __getstate__(self):
        # The Kernel's bound method does not pickle (torch.save, copy.deepcopy): a copy learns it again.
        return {**super().__getstate__(), "_fast": None}

    def __setstate__(self, state):
        if "path" in state:  # pickled before path became a property
            state = {**state, "_path": state["path"]}
            del state["path"]
        super().__setstate__(state)

    def _forward_not_strided(self, x: torch.Tensor) -> torch.Tensor:
        """A sparse (or other non-strided) tensor: PyTorch's own op where it is the definition with nothing to
        guard and takes that layout (ReLU, tanh, ... on sparse COO tensors); otherwise a TypeError saying
        what to do, not an error from inside PyTorch that names another op."""
        spec = self.spec
        if self._native and spec.native_range is None and not spec.stochastic:
            try:
                return spec.native(x, **self._kwargs())
            except (NotImplementedError, RuntimeError) as e:
                why = f"PyTorch's op for it does not take that layout: {str(e).split('. ')[0].strip()}"
        else:
            why = "its formula and guards are written for dense tensors"
        with torch.no_grad():
            zero = float(self.forward(torch.zeros(1, dtype=x.dtype))[0])
        keeps = " (f(0) = 0 here, so applying it to a sparse tensor's values() keeps the sparsity)" \
            if zero == 0.0 else ""
        raise TypeError(f"actlab's {spec.name} takes dense (strided) tensors; got a {x.layout} tensor ({why}). "
                        f"Convert it with x.to_dense() first{keeps}.")

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
    """A function of a whole vector (softmax, sparsemax): the derivative is a Jacobian.

    The definition supplies the Jacobian-vector product and the Jacobian
    (``Activation.jvp`` and ``Activation.jacobian``); ``derivative(x)`` is the
    Jacobian's diagonal.
    """

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Full Jacobian along ``dim``: shape (..., n, n), the other dimensions first, (i, j) last."""
        return self._vector_rule("jacobian")(as_float_tensor(x), **self._kwargs())

    def jvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Jacobian-vector product J(x) v along ``dim``, without forming J; same shape as x."""
        x = as_float_tensor(x)
        return self._vector_rule("jvp")(x, torch.as_tensor(v, dtype=x.dtype), **self._kwargs())

    def _vector_rule(self, what: str):
        rule = getattr(self.spec, what)
        if rule is None:
            raise NotImplementedError(f"{self.spec.name}: its definition gives no {what}; "
                                      f"add Activation.{what} in the catalog")
        return rule


def make_module_class(spec: Activation, doc: str, base: type[ActivationModule] | None = None) -> type[ActivationModule]:
    """The module class of ``spec`` with docstring ``doc`` (catalog/docs.py writes it; the registry calls this).

    ``base`` overrides the default base class (the registry passes the gated units' own).
    """
    if base is None:
        base = VectorActivationModule if spec.vector else ActivationModule
    ns = {
        "spec": spec,
        "__doc__": doc,
        "__module__": "actlab.modules",
        "_function": base._function_for(spec),
    }
    return type(spec.class_name, (base,), ns)
