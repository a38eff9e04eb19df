r"""Gated linear units: the input split in two along a dimension, one half gating the other.

For an input x whose size along ``dim`` is even, the first half is a and the
second half b, and the unit returns

.. math::

    f(x) = a \odot g(b)

with g the gate: the sigmoid (GLU, Dauphin et al. 2017), ReLU (ReGLU), GELU
(GeGLU), Swish (SwiGLU) or the identity (Bilinear), Shazeer (2020). The split
follows ``torch.nn.functional.glu``: first half a, second half b gated, so
``actlab.get("glu")`` equals ``torch.nn.GLU()`` exactly. The output is half
the input's size along ``dim``: in a transformer feed-forward block,
``Linear(d, 2h) -> SwiGLU -> Linear(h, d)``.

Each gate is a catalog activation, reused here from ``definitions.py`` (its
forward, analytic derivative and mpmath reference), so a gate is defined
exactly once. The derivative of a gated unit is a Jacobian with two diagonal
blocks, J = [diag(g(b)) | diag(a g'(b))]; the definition's ``derivative``
returns those two diagonals side by side, shaped like x, and the module adds
``.jvp(x, v)`` and ``.jacobian(x)``. Properties, plots and ``actlab list``
describe the gate g (that is, f at a = 1).

The registry appends ``ALL`` to the catalog after the elementwise activations.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from .definitions import GELU, GELU_TANH, IDENTITY, RELU, SIGMOID, SILU
from .module import ActivationModule, analytic_function, as_float_tensor, run_function, saved_tensors
from .spec import Activation, Param

# A gated unit's own parameters (besides dim) -> (the gate's definition, its keyword arguments).
GateChoice = Callable[[dict], tuple[Activation, dict]]
GATES: dict[str, GateChoice] = {}

_DIM = Param("dim", -1, "the dimension split into (a, b); its size must be even (torch.nn.GLU's dim)", kind=int)


def halves(x: torch.Tensor, dim: int, owner: str = "gated unit") -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b): the first and second halves of x along ``dim``, as views; a clear error when that is impossible."""
    n = half_size(x, dim, owner)
    return x.narrow(dim, 0, n), x.narrow(dim, n, n)


def half_size(x: torch.Tensor, dim: int, owner: str = "gated unit") -> int:
    """The size of each half of x along ``dim`` (:func:`halves` without the views); the same errors."""
    if x.dim() == 0:
        raise ValueError(f"{owner}: got a 0-dimensional tensor; a gated unit splits its input along "
                         f"dim={dim} into two halves, so give it at least one dimension of even size")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"{owner}: dim={dim} is out of range for an input with {x.dim()} dimension(s) "
                         f"(shape {tuple(x.shape)}); expected -{x.dim()} <= dim < {x.dim()}")
    n = x.shape[dim]
    if n % 2:
        raise ValueError(f"{owner}: the input's size along dim={dim} is {n}, which is odd; a gated unit "
                         "splits it into two equal halves (a, b), so it must be even. Give the layer before "
                         "it twice the hidden width as its output size.")
    return n // 2


def gate_of(spec: Activation, params: dict) -> tuple[Activation, dict]:
    """The gate's definition and keyword arguments for a gated unit with these parameters."""
    if not spec.gated:
        raise ValueError(f"{spec.name} is not a gated unit; gated units are "
                         f"{', '.join(a.name for a in ALL)}")
    return GATES[spec.name]({k: v for k, v in params.items() if k != "dim"})


def _toward_limits(gate: Activation, b: torch.Tensor) -> torch.Tensor:
    """b with +-inf replaced by +-max on each side where the gate is bounded.

    A bounded gate has reached its limit at the dtype's largest number, so this
    changes no finite result, and it keeps a formula such as b * Phi(b) from
    computing -inf * 0 = NaN at b = -inf. An unbounded side (the identity's)
    is left alone: there the infinity is the right value.
    """
    big = torch.finfo(b.dtype).max
    lo = -big if gate.bounds[0] > -math.inf else None
    hi = big if gate.bounds[1] < math.inf else None
    return b if lo is None and hi is None else torch.clamp(b, lo, hi)


def gate_values(spec: Activation, params: dict, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(g(b), g'(b)) for the gate of a gated unit, elementwise, with exact limits at +-inf."""
    gate, kw = gate_of(spec, params)
    bb = _toward_limits(gate, b)
    return gate.forward(bb, **kw), gate.derivative(bb, **kw)


def _unit(name: str, title: str, class_name: str, gate: GateChoice, symbol: str, dsymbol: str,
          default_gate: Activation, params: tuple[Param, ...] = (), **fields) -> Activation:
    """One gated unit: forward, derivative and reference all built from its gate's definition.

    ``symbol``/``dsymbol`` are the LaTeX of g(b_i) and g'(b_i) for the formulas.
    The declared bounds, monotonicity, smoothness and kinks are the default
    gate's, because that is what the computed properties describe.
    """

    def forward(x, dim, **p):
        g, kw = gate(p)
        a, b = halves(x, dim, name)
        return a * g.forward(_toward_limits(g, b), **kw)

    def derivative(x, dim, **p):
        g, kw = gate(p)
        a, b = halves(x, dim, name)
        bb = _toward_limits(g, b)
        return torch.cat([g.forward(bb, **kw), a * g.derivative(bb, **kw)], dim)

    def reference(xs, dim, **p):
        """mpmath values of a_i g(b_i) for one vector xs along dim (a list of mpf)."""
        g, kw = gate(p)
        h = len(xs) // 2
        return [a * g.reference(b, **kw) for a, b in zip(xs[:h], xs[h:])]

    GATES[name] = gate
    return Activation(
        name=name, title=title, class_name=class_name, family="gated unit",
        params=(_DIM, *params),
        formula=rf"f_i(x) = a_i\,{symbol},\ (a, b) = \operatorname{{split}}(x)",
        dformula=rf"\frac{{\partial f_i}}{{\partial a_i}} = {symbol},\ "
                 rf"\frac{{\partial f_i}}{{\partial b_i}} = a_i" + (rf"\,{dsymbol}" if dsymbol != "1" else ""),
        forward=forward, derivative=derivative, reference=reference,
        bounds=default_gate.bounds, monotonic=default_gate.monotonic,
        smoothness=default_gate.smoothness, kinks=default_gate.kinks,
        vector=True, gated=True, **fields,
    )


_SHAPE_NOTE = ("Split as torch.nn.functional.glu: along dim, the first half of x is a and the second half "
               "b is gated; the output is half as wide as the input there.")
_DERIVATIVE_NOTE = (".derivative(x) gives the two diagonals of the Jacobian side by side, shaped like x: "
                    "df/da = g(b) in the first half, a g'(b) in the second; .jacobian(x) the full matrix; "
                    ".jvp(x, v) the product with a vector. Properties and plots are for the gate g(b) "
                    "(f at a = 1).")
_SHAZEER = "Shazeer (2020), GLU variants improve Transformer. arXiv:2002.05202."
_DAUPHIN = "Dauphin, Fan, Auli, Grangier (2017), Language modeling with gated convolutional networks. ICML."

GLU = _unit(
    "glu", "Gated linear unit (GLU)", "GLU", lambda p: (SIGMOID, {}),
    r"\sigma(b_i)", r"\sigma(b_i)\,(1 - \sigma(b_i))", SIGMOID,
    native=lambda x, dim: F.glu(x, dim),
    description="Half of the input, a, is multiplied by the sigmoid of the other half, b: "
    "each output is a linear unit whose flow is controlled by a learned soft switch. "
    "Introduced for gated convolutional language models; the gradient through a has no "
    "down-scaling factor, which eases training of deep stacks.",
    pros=("Linear path through a: gradients pass without the sigmoid's shrinking factor.",
          "Native op (F.glu); gate bounded in (0, 1)."),
    cons=("Needs twice the output width in the layer before it (more parameters per unit).",
          "In Transformers, ReGLU/GeGLU/SwiGLU gave lower perplexity (Shazeer 2020)."),
    references=(_DAUPHIN, _SHAZEER),
    notes=(_SHAPE_NOTE, _DERIVATIVE_NOTE, "Uses PyTorch's native F.glu; identical to torch.nn.GLU(dim)."),
)

REGLU = _unit(
    "reglu", "ReGLU (ReLU-gated linear unit)", "ReGLU", lambda p: (RELU, {}),
    r"\max(0, b_i)", r"\operatorname{step}(b_i)", RELU,
    description="A gated linear unit whose gate is a ReLU: a times max(0, b). The gate is "
    "unbounded and exactly zero for b <= 0, so it is sparse like ReLU; the product with "
    "a makes it a quadratic form in the input.",
    pros=("Cheapest gate after the identity; beat ReLU and GLU in T5-style Transformers (Shazeer 2020).",),
    cons=("Zero gradient through both halves wherever b <= 0 (dead gates).",
          "Needs twice the output width in the layer before it."),
    references=(_SHAZEER,),
    notes=(_SHAPE_NOTE, _DERIVATIVE_NOTE, "At b = 0 the gate's derivative is 0, as ReLU'(0) in PyTorch."),
)

GEGLU = _unit(
    "geglu", "GeGLU (GELU-gated linear unit)", "GeGLU",
    lambda p: (GELU_TANH if p["approximate"] else GELU, {}),
    r"b_i\,\Phi(b_i)", r"\left(\Phi(b_i) + b_i\,\varphi(b_i)\right)", GELU,
    params=(Param("approximate", False, "False: exact GELU, b Phi(b) with erf (PyTorch's default); "
                  "True: the tanh approximation (PyTorch's approximate='tanh')", kind=bool),),
    settings=({"approximate": True},),
    description="A gated linear unit whose gate is GELU, b Phi(b) with the exact erf form by "
    "default (approximate=True takes the tanh form of BERT/GPT-2). Among the best "
    "variants in Shazeer's Transformer experiments; used by T5 v1.1 and Gemma's feed-forward layers.",
    pros=("Smooth gate; lower perplexity than ReLU and GLU in Transformers (Shazeer 2020).",),
    cons=("erf per element; needs twice the output width in the layer before it.",),
    references=(_SHAZEER, "Hendrycks & Gimpel (2016), Gaussian error linear units (GELUs)."),
    notes=(_SHAPE_NOTE, _DERIVATIVE_NOTE,
           "The default gate is exact GELU (erf), as torch.nn.GELU(); approximate=True uses "
           "the tanh approximation, as torch.nn.GELU(approximate='tanh')."),
)

SWIGLU = _unit(
    "swiglu", "SwiGLU (Swish-gated linear unit)", "SwiGLU",
    lambda p: (SILU, {"beta": p["beta"]}),
    r"b_i\,\sigma(\beta b_i)", r"\sigma(\beta b_i)\left(1 + \beta b_i\,(1 - \sigma(\beta b_i))\right)", SILU,
    params=(Param("beta", 1.0, "sharpness of the Swish gate; 1 gives SiLU, the usual SwiGLU",
                  low=0.0, open_low=True),),
    settings=({"beta": 2.0},),
    description="A gated linear unit whose gate is Swish, b sigma(beta b), with beta = 1 (SiLU) "
    "by default as in Shazeer's paper. The feed-forward activation of PaLM and LLaMA; with "
    "the hidden width scaled by 2/3 it costs the same parameters as a ReLU block.",
    pros=("Smooth gate; best or tied-best perplexity in Shazeer (2020); standard in large language models.",),
    cons=("A sigmoid per element; needs twice the output width in the layer before it.",),
    references=(_SHAZEER,
                "Chowdhery et al. (2022), PaLM: Scaling language modeling with pathways.",
                "Touvron et al. (2023), LLaMA: Open and efficient foundation language models."),
    notes=(_SHAPE_NOTE, _DERIVATIVE_NOTE, "bounds are for beta = 1."),
)

BILINEAR = _unit(
    "bilinear", "Bilinear unit (identity-gated)", "BilinearGLU", lambda p: (IDENTITY, {}),
    r"b_i", r"1", IDENTITY,
    aliases=("bilinear_glu",),
    description="The product of the two halves, a times b, with no non-linearity in the gate: "
    "the output is a quadratic form of the input. Shazeer found it nearly as good as the "
    "non-linear gates in Transformers.",
    pros=("No transcendental function at all; still a strong Transformer baseline (Shazeer 2020).",),
    cons=("Unbounded on both sides; the product of two large halves can overflow in low precision.",
          "Needs twice the output width in the layer before it."),
    references=(_SHAZEER, "Mnih & Hinton (2007), Three new graphical models for statistical language modelling. ICML."),
    notes=(_SHAPE_NOTE, _DERIVATIVE_NOTE,
           "Class BilinearGLU, not Bilinear, so that it is not mistaken for torch.nn.Bilinear (a layer with weights)."),
)

ALL: tuple[Activation, ...] = (GLU, REGLU, GEGLU, SWIGLU, BILINEAR)


# --------------------------------------------------------------------------- #
# The module
# --------------------------------------------------------------------------- #
_PRODUCT_FUNCTIONS: dict[str, type[torch.autograd.Function]] = {}


def _product_function(spec: Activation) -> type[torch.autograd.Function]:
    """An autograd.Function for a * g(b) that keeps only x and differentiates analytically.

    Plain autograd keeps a, b and g(b) (one and a half times the input) and,
    for GELU or Swish, b again inside the gate; this keeps x alone and
    recomputes g(b) and g'(b) in backward.
    """
    if spec.name not in _PRODUCT_FUNCTIONS:
        names = tuple(p.name for p in spec.params if p.passed)

        def vjp(x, grad, p):
            dim = p["dim"]
            a, b = halves(x, dim, spec.name)
            g, dg = gate_values(spec, p, b)
            return torch.cat([grad * g, grad * a * dg], dim)

        def jvp(x, tangent, p):
            dim = p["dim"]
            a, b = halves(x, dim, spec.name)
            a_t, b_t = halves(tangent, dim, spec.name)
            g, dg = gate_values(spec, p, b)
            return a_t * g + a * dg * b_t

        _PRODUCT_FUNCTIONS[spec.name] = analytic_function(spec, names, vjp, jvp)
    return _PRODUCT_FUNCTIONS[spec.name]


_KEEPS_MORE: dict[tuple, bool] = {}


def composite_keeps_more_than_input(spec: Activation, fixed: dict) -> bool:
    """Would plain autograd of ``spec.forward`` keep more bytes than x itself?

    The gated form of :func:`actlab.catalog.module.composite_keeps_more_than_input`:
    the halves are views of x and g(b) is half its size, so every saved
    storage of at least half x's size counts. Probed once per (unit, parameters).
    """
    key = (spec.name, tuple(sorted(fixed.items())))
    if key not in _KEEPS_MORE:
        with torch.inference_mode(False), torch.enable_grad():
            dim = fixed["dim"]
            shape = [1] * (dim + 1 if dim >= 0 else -dim)
            shape[dim] = 16  # the split dimension; the graph does not depend on the sizes
            x = torch.linspace(-4.0, 4.0, 16, dtype=torch.float32).reshape(shape).requires_grad_()
            kept = saved_tensors(lambda t: spec.forward(t, **fixed), x)
        total = sum(t.untyped_storage().nbytes() for t in kept if 2 * t.numel() >= x.numel())
        _KEEPS_MORE[key] = total > x.numel() * x.element_size()
    return _KEEPS_MORE[key]


class GatedActivationModule(ActivationModule):
    """Base class of the gated units: ``forward(x)`` splits x along ``dim`` into (a, b) and returns a * g(b).

    ``derivative(x)`` gives the Jacobian's two diagonal blocks side by side
    (shaped like x); ``jvp(x, v)`` and ``jacobian(x)`` give the product and
    the full matrix; ``gate(b)`` and ``gate_derivative(b)`` the gate alone.
    ``path`` is "native" (F.glu), "analytic" (an autograd.Function that keeps
    only x, where plain autograd would keep more) or "composite".
    """

    @classmethod
    def _function_for(cls, spec: Activation) -> type[torch.autograd.Function]:
        return _product_function(spec)

    def _choose_path(self) -> str:
        if self._native:
            return "native"
        return "analytic" if composite_keeps_more_than_input(self.spec, self._fixed) else "composite"

    @property
    def dim(self) -> int:
        return self._fixed["dim"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_float_tensor(x)
        kw = self._kwargs()
        if self._path == "native":
            half_size(x, self.dim, self.spec.name)  # the catalog's message rather than the op's
            return self.spec.native(x, **kw)
        if self._path == "composite":
            return self.spec.forward(x, **kw)
        return run_function(self._function, x, *kw.values())

    def gate(self, b: torch.Tensor) -> torch.Tensor:
        """g(b), elementwise: the gate alone."""
        return gate_values(self.spec, self._fixed, as_float_tensor(b))[0]

    def gate_derivative(self, b: torch.Tensor) -> torch.Tensor:
        """g'(b), elementwise, analytic."""
        return gate_values(self.spec, self._fixed, as_float_tensor(b))[1]

    def jvp(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """J(x) v = g(b) v_a + a g'(b) v_b, without forming J; v has x's shape, the result f(x)'s."""
        x, v = as_float_tensor(x), as_float_tensor(v)
        if v.shape != x.shape:
            raise ValueError(f"{self.spec.name}.jvp: v has shape {tuple(v.shape)} but x has "
                             f"{tuple(x.shape)}; v must be shaped like x (a tangent of the input)")
        da, db = halves(self.derivative(x), self.dim, self.spec.name)
        va, vb = halves(v, self.dim, self.spec.name)
        return da * va + db * vb

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """The Jacobian along ``dim``: shape (..., h, 2h) with ``dim`` moved last, J[..., i, j] = df_i/dx_j."""
        x = as_float_tensor(x)
        dim = self.dim % max(x.dim(), 1)
        da, db = (torch.movedim(t, dim, -1) for t in halves(self.derivative(x), self.dim, self.spec.name))
        return torch.cat([torch.diag_embed(da), torch.diag_embed(db)], dim=-1)
