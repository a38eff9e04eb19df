"""The shape of one activation definition.

Every activation in actlab is one :class:`Activation` value. Modules, the
functional form, the NumPy form, plots, property tables, docs and tests are all
derived from it; nothing about an activation is written down anywhere else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

LEARNABLE = "learnable"


@dataclass(frozen=True)
class Param:
    """One parameter of an activation.

    ``low``/``high`` bound the valid range; ``open_low``/``open_high`` say
    whether the bound itself is excluded. ``can_learn`` means the value may be
    the string ``"learnable"``: the module then holds an ``nn.Parameter``
    initialised at ``default``. ``kind`` is ``float``, ``int`` or ``bool``;
    ``allow_none`` admits ``None`` (meaning "off", e.g. softplus' threshold).
    """

    name: str
    default: Any
    doc: str
    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False
    kind: type = float
    can_learn: bool = False
    always_learned: bool = False
    allow_none: bool = False
    passed: bool = True  # False: shapes the module (e.g. PReLU's channel count), not the formula

    def range_text(self) -> str:
        lo = "-inf" if self.low == -math.inf else repr(self.low)
        hi = "inf" if self.high == math.inf else repr(self.high)
        left = "(" if (self.open_low or self.low == -math.inf) else "["
        right = ")" if (self.open_high or self.high == math.inf) else "]"
        extra = " or None" if self.allow_none else ""
        extra += " or 'learnable'" if self.can_learn else ""
        return f"{left}{lo}, {hi}{right}{extra}"

    def validate(self, owner: str, value: Any) -> Any:
        """Return the checked (and converted) value, or raise ValueError."""
        if value is None and self.allow_none:
            return None
        if self.always_learned and not isinstance(value, str):
            value = self._number(owner, value)
            return value
        if isinstance(value, str) and value == LEARNABLE:
            if self.can_learn or self.always_learned:
                return LEARNABLE
            raise ValueError(
                f"{owner}: parameter '{self.name}' cannot be learnable; "
                f"expected a number in {self.range_text()}"
            )
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise ValueError(f"{owner}: parameter '{self.name}' must be True or False (got {value!r})")
        return self._number(owner, value)

    def _number(self, owner: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value) if self.kind is float else int(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{owner}: parameter '{self.name}' must be a number in "
                    f"{self.range_text()} (got {value!r})"
                ) from None
        if self.kind is int:
            if float(value) != int(value):
                raise ValueError(f"{owner}: parameter '{self.name}' must be an integer (got {value!r})")
            value = int(value)
        else:
            value = float(value)
        if math.isnan(value):
            raise ValueError(f"{owner}: parameter '{self.name}' is NaN; expected a number in {self.range_text()}")
        too_low = value < self.low or (self.open_low and value == self.low)
        too_high = value > self.high or (self.open_high and value == self.high)
        if too_low or too_high:
            raise ValueError(
                f"{owner}: parameter '{self.name}' = {value!r} is outside its valid range "
                f"{self.range_text()}; {self.doc}"
            )
        return value


@dataclass(frozen=True)
class Activation:
    """The single definition of one activation function.

    ``forward(x, **p)`` and ``derivative(x, **p)`` are written with torch ops
    and must keep the input's dtype and shape. ``reference(x, **p)`` is an
    independent mpmath formula used only to verify them. ``native`` is
    PyTorch's own op where it has the same definition; it is used in modules
    when ``native_when(params)`` holds.

    Declared properties (``bounds``, ``monotonic``, ``smoothness``) are checked
    against the numerically computed ones in the tests.
    """

    name: str
    title: str
    family: str
    formula: str  # LaTeX of f(x)
    dformula: str  # LaTeX of f'(x)
    description: str
    forward: Callable
    derivative: Callable
    reference: Callable
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    native: Optional[Callable] = None
    native_when: Callable[[dict], bool] = lambda p: True
    # Where PyTorch's op is known to be wrong at the edges on some CPU (NaN at
    # +-inf, overflow just below the dtype's max, a NaN gradient that depends on
    # the tensor's length), the module calls it only when every element is
    # finite with |x| <= native_range * finfo(dtype).max, and otherwise computes
    # the definition's own formula and derivative (a function of the dtype gives
    # the bound itself: module.native_bound). With native_range 1 the check
    # is skipped where a run-time probe finds the op right at +-inf and NaN
    # (module.native_faults: per process, dtype and device; the backward only
    # counts when autograd will differentiate the call). None: the op is
    # trusted everywhere.
    native_range: Optional[Union[float, Callable]] = None
    # The parameters (in order) that actlab's compiled kernel of this activation
    # takes (catalog/fused.cpp, a kernel of the same name), or None where there
    # is none. Where the kernels are built, a module on the native path runs its
    # kernel on float32/float64 CPU tensors instead of PyTorch's op and the
    # guard: the same exact limits in one pass (catalog/fused.py).
    fused: Optional[tuple[str, ...]] = None
    pros: tuple[str, ...] = ()
    cons: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    bounds: tuple[float, float] = (-math.inf, math.inf)
    monotonic: bool = True
    smoothness: str = "smooth"  # one of: discontinuous, C0, C1, smooth
    # Points where f or f' is not smooth: a tuple, or a function of the
    # parameters when they move the kinks (softshrink's lambda); see kinks_at.
    kinks: tuple[float, ...] | Callable[[dict], tuple[float, ...]] = ()
    stochastic: bool = False  # forward depends on training mode (RReLU)
    vector: bool = False  # maps a vector to a vector (softmax)
    # Vector activations only: jvp(x, v, **p) is J(x) v along the normalised
    # dimension, without forming J; jacobian(x, **p) is J itself, shaped
    # (..., n, n) with that dimension moved last. ``derivative`` is J's diagonal.
    jvp: Optional[Callable] = None
    jacobian: Optional[Callable] = None
    gated: bool = False  # splits its input in two, a * gate(b) (GLU family; also vector): catalog/gated.py
    # Tolerance (rtol, atol) reached in float64 against the mpmath reference,
    # |got - ref| <= rtol |ref| + atol, by the module's forward (``precision``)
    # and by ``derivative`` (``dprecision``), for every setting in
    # param_settings() and |x| <= 1e4; measured and asserted by
    # tests/test_catalog_verify.py, explained in docs/precision.md.
    precision: tuple[float, float] = (4e-16, 0.0)
    dprecision: tuple[float, float] = (4e-16, 0.0)
    # A rule across parameters (e.g. RReLU's lower <= upper): returns an error
    # message for a bad combination, None when the combination is fine.
    check: Optional[Callable[[dict], Optional[str]]] = None
    class_name: str = ""
    # Weight initialisation the activation is designed for: "he", "lecun" or "glorot" (see
    # actlab.models.init). "" derives it from the family: He for rectifier, exponential and gated
    # families (about half the signal passes, identity for large x), Glorot otherwise.
    init: str = ""
    # Dropout the activation is designed for: "alpha" (AlphaDropout keeps SELU's fixed point of mean 0 and
    # variance 1, which ordinary dropout's zeros would shift) or "" for ordinary dropout.
    dropout: str = ""
    settings: tuple[dict, ...] = field(default_factory=tuple)  # parameter settings that matter, for tests and plots

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def formula_params(self, params: dict) -> dict:
        """The subset of ``params`` that forward/derivative/reference take."""
        return {p.name: params[p.name] for p in self.params if p.passed}

    def resolve_params(self, given: dict) -> dict:
        """Validate user parameters against this definition; fill defaults."""
        names = [p.name for p in self.params]
        unknown = [k for k in given if k not in names]
        if unknown:
            expected = ", ".join(names) if names else "no parameters"
            raise ValueError(
                f"{self.name}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                f"expected {expected} (see 'actlab show {self.name}')"
            )
        out = {}
        for p in self.params:
            out[p.name] = p.validate(self.name, given.get(p.name, p.default))
        problem = self.check(out) if self.check else None
        if problem:
            raise ValueError(f"{self.name}: {problem} (see 'actlab show {self.name}')")
        return out

    def kinks_at(self, params: dict) -> tuple[float, ...]:
        """The kinks for these (resolved) parameters."""
        return tuple(self.kinks(params)) if callable(self.kinks) else tuple(self.kinks)

    def param_settings(self) -> tuple[dict, ...]:
        """Parameter settings worth testing: the defaults plus declared ones."""
        return (self.defaults(),) + tuple(dict(self.defaults(), **s) for s in self.settings)
