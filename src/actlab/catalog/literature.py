r"""Activations from the research literature that no major framework ships as an op.

Each is one :class:`~actlab.catalog.spec.Activation`, written like those in
``definitions.py`` (forward, analytic derivative, mpmath reference, LaTeX,
parameters, properties, references); the registry appends ``ALL`` to the
catalog after the framework activations.

Numerics, stated once: every formula is arranged so that it neither overflows
nor cancels where the function itself is well conditioned (``x`` times a gate
is computed with ``x`` made finite, so that the limit at -inf is 0 and not
-inf * 0 = NaN; derivative terms of the form x g'(x) clamp x where g'(x) is
already 0 in every dtype). Two functions need the phase or the square of x to
more than working precision: the Gaussian exp(-x^2) (relative error x^2 eps
otherwise, 1e-13 at x = 25) and the SIREN sine sin(w0 x) (absolute error
|w0 x| eps otherwise, 3e-11 at x = 1e4). Both are computed in float64 with the
product split exactly into p + e (Dekker 1971) and rounded once to the input's
dtype at the end. NaN in gives NaN out for every forward and derivative.
"""
from __future__ import annotations

import math

import mpmath as mp
import torch

from .definitions import (
    _SIGMOID_CLAMP, _above, _channel, _finite, _inside, _keep_nan, _mp_sig, _mp_softplus, _no_neg_inf, _silu_d,
    _softplus, _step_le, _tanh_d,
)
from .spec import Activation, Param

inf = math.inf
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
# Beyond |x| = 40, exp(-x^2) < 1e-695 is 0 in every float dtype (float64 underflows below 5e-324).
_GAUSS_CLAMP = 40.0
# tanh'(e^x) e^x x is below 1e-9000 beyond x = 10 (e^x > 2.2e4), and e^10 fits in float16.
_TANHEXP_CLAMP = 10.0


# ---------------------------------------------------------------------------
# Exact products in float64 (the Gaussian and the sine)
# ---------------------------------------------------------------------------
_LOW_27_BITS = (1 << 27) - 1


def _split(x):
    """x = hi + lo exactly, hi with 26 significant bits and lo with at most 27 (float64 x).

    Truncating the bit pattern rather than Veltkamp's (2^27 + 1) x - ... trick
    cannot overflow, so it serves every finite x up to the largest float64.
    """
    hi = (x.view(torch.int64) & ~_LOW_27_BITS).view(torch.float64)
    return hi, x - hi


def _split_number(w: float) -> tuple[float, float]:
    """Veltkamp's split of a Python float: w = hi + lo, each with at most 26 significant bits."""
    t = 134217729.0 * w  # 2^27 + 1; parameters are far below the overflow threshold
    hi = t - (t - w)
    return hi, w - hi


def _product(x, w: float):
    """(p, e) with p = fl(w x) and p + e = w x exactly (Dekker's two-product), for float64 x."""
    xh, xl = _split(x)
    wh, wl = _split_number(w)
    p = w * x
    return p, ((wh * xh - p) + wh * xl + wl * xh) + wl * xl


def _square(x):
    """(p, e) with p = fl(x^2) and p + e = x^2 up to a relative 2^-106 (float64 x)."""
    xh, xl = _split(x)
    p = x * x
    return p, ((xh * xh - p) + 2 * xh * xl) + xl * xl


def _computed_in(dtype, fn, x, *args):
    """fn evaluated in at least ``dtype`` and rounded once to x's dtype (no conversion if x is wider)."""
    return fn(x.to(torch.promote_types(x.dtype, dtype)), *args).to(x.dtype)


# ---------------------------------------------------------------------------
# ELiSH and Hard ELiSH (Basirat & Roth 2018)
# ---------------------------------------------------------------------------
_BASIRAT = ("Basirat & Roth (2018), The quest for the golden activation function. arXiv:1808.00783.",)


def _elish(x):
    # (max(x, 0) + expm1(min(x, 0))) sigma(x): on each half-line one of the two terms is exactly 0, so the
    # sum is that side's factor, with nothing that overflows or meets inf * 0 (-1 * sigma(-inf) = 0 at -inf).
    # Branch-free: PyTorch's where and comparisons are not vectorised on the CPU (definitions._above).
    return (torch.clamp_min(x, 0) + torch.expm1(torch.clamp_max(x, 0))) * torch.sigmoid(x)


_ELISH_X0 = math.log(math.sqrt(2) - 1)  # -asinh(1) = -0.8814: the minimum of ELiSH

def _elish_d(x):
    # Left branch with u = e^x: f = (u^2 - u)/(1 + u), f' = u (u^2 + 2u - 1)/(1 + u)^2, and
    # u^2 + 2u - 1 = (u + 1 + sqrt 2)(u + 1 - sqrt 2) with u + 1 - sqrt 2 = (sqrt 2 - 1) expm1(x - x0),
    # x0 = log(sqrt 2 - 1): no cancellation at the minimum x0, where f' changes sign.
    pos, neg = torch.clamp_min(x, 0), torch.clamp_max(x, 0)
    u = torch.exp(neg)
    left = u * (u + 1 + math.sqrt(2)) * (math.sqrt(2) - 1) * torch.expm1(neg - _ELISH_X0) / (1 + u) ** 2
    below = _above(-x, 0)  # 1 for x < 0 (0 for NaN: left is NaN there)
    return left * below + _silu_d(pos, 1.0) * (1 - below)  # each product exact; one of the two is 0


ELISH = Activation(
    name="elish", title="ELiSH (exponential linear squashing)", family="gated", class_name="ELiSH",
    dprecision=(1e-15, 3e-17),  # measured: tests/test_catalog_verify.py, docs/precision.md
    formula=r"f(x) = \begin{cases} x\,\sigma(x) & x \ge 0 \\ (e^{x} - 1)\,\sigma(x) & x < 0 \end{cases}",
    dformula=r"f'(x) = \begin{cases} \sigma(x)\,(1 + x\,\sigma(-x)) & x \ge 0 \\ "
             r"\sigma(x)\left(e^{x} + (e^{x} - 1)\,\sigma(-x)\right) & x < 0 \end{cases}",
    description="Swish on the positive side and an ELU-shaped curve gated by the sigmoid on the "
    "negative side: the negative branch (e^x - 1) sigma(x) dips to a minimum of 2 sqrt 2 - 3 = "
    "-0.1716 at x = log(sqrt 2 - 1) = -0.881 and returns to 0 at -inf. Found by a genetic "
    "search over activation functions.",
    forward=_elish, derivative=_elish_d,
    reference=lambda x: x * _mp_sig(x) if x >= 0 else mp.expm1(x) * _mp_sig(x),
    monotonic=False, bounds=(-0.1716, inf), smoothness="C1", kinks=(0.0,),
    pros=("Smooth gradient flow on both sides; no dead region.",
          "Reported better than ReLU and Swish on CIFAR-10/100 in the search that found it."),
    cons=("An exp and a sigmoid per element.",
          "The second derivative jumps at 0 (1/2 on the right, 1 on the left)."),
    references=_BASIRAT,
    notes=("Both branches have f(0) = 0 and f'(0) = 1/2, so f is C1 but not C2 at 0.",),
)


def _hard_gate(x):
    """max(0, min(1, (x + 1)/2)), the ramp that Hard ELiSH uses as its gate."""
    return torch.clamp((x + 1) / 2, 0, 1)


def _hard_elish(x):
    # As ELiSH's: one of the two terms is exactly 0 on each half-line (the gate is 0 at -inf, 1 at +inf).
    return (torch.clamp_min(x, 0) + torch.expm1(torch.clamp_max(x, 0))) * _hard_gate(x)


def _hard_elish_d(x):
    # The three pieces, each on x clipped to its interval and times its interval's step (0 or 1, exact):
    # (-1, 0) the exponential piece, [0, 1) x + 1/2, [1, inf) 1; 0 from -inf to -1. NaN: the middle step is
    # 1 - 1 = 0 there, times clamp(NaN) = NaN.
    c = torch.clamp(x, -1, 0)
    left = torch.exp(c) * (c + 1) / 2 + torch.expm1(c) / 2  # c + 1 exact near -1: precise at the kink
    from_0, from_1 = _step_le(-x, 0.0), _step_le(-x, -1.0)  # [x >= 0], [x >= 1]
    return left * _inside(x, -1.0, 0.0) + (torch.clamp(x, 0, 1) + 0.5) * (from_0 - from_1) + from_1


HARD_ELISH = Activation(
    name="hard_elish", title="Hard ELiSH", family="gated", class_name="HardELiSH",
    aliases=("hardelish",),
    formula=r"f(x) = \begin{cases} x\,g(x) & x \ge 0 \\ (e^{x} - 1)\,g(x) & x < 0 \end{cases},"
            r"\ g(x) = \max\!\left(0, \min\!\left(1, \tfrac{x + 1}{2}\right)\right)",
    dformula=r"f'(x) = \begin{cases} 0 & x \le -1 \\ \tfrac12\left(e^{x}(x + 1) + e^{x} - 1\right) & -1 < x < 0 \\ "
             r"x + \tfrac12 & 0 \le x < 1 \\ 1 & x \ge 1 \end{cases}",
    description="ELiSH with the sigmoid replaced by the ramp (x + 1)/2 clipped to [0, 1]: zero "
    "below -1, the identity above 1, a quadratic x(x + 1)/2 on [0, 1] and (e^x - 1)(x + 1)/2 on "
    "(-1, 0), with a minimum of -0.0997 at x = -0.443.",
    forward=_hard_elish, derivative=_hard_elish_d,
    reference=lambda x: (x if x >= 0 else mp.expm1(x)) * min(mp.mpf(1), max(mp.mpf(0), (x + 1) / 2)),
    monotonic=False, bounds=(-0.09967, inf), smoothness="C0", kinks=(-1.0, 0.0, 1.0),
    pros=("Cheaper than ELiSH on the positive side (no sigmoid).",),
    cons=("Dead for x < -1; the derivative jumps at -1 (0 to -0.32) and at 1 (1.5 to 1).",),
    references=_BASIRAT,
    notes=("At the kinks f'(-1) = 0 and f'(1) = 1 (the outer pieces); at 0 both sides give 1/2.",),
)

# ---------------------------------------------------------------------------
# Self-gated by tanh or erf: LiSHT, Serf, Smish, TanhExp
# ---------------------------------------------------------------------------
def _lisht_d(x):
    # Beyond |x| = 50, x sech^2 x < 1e-41 is far below eps * tanh x = eps; clamping keeps inf * 0 out.
    xc = torch.clamp(x, -50.0, 50.0)
    return torch.tanh(x) + xc * _tanh_d(xc)


LISHT = Activation(
    name="lisht", title="LiSHT (linearly scaled hyperbolic tangent)", family="gated", class_name="LiSHT",
    formula=r"f(x) = x \tanh x", dformula=r"f'(x) = \tanh x + x \operatorname{sech}^2 x",
    description="The input scaled by its own tanh: an even function, non-negative everywhere, "
    "close to x^2 near 0 and to |x| far from it. Negative inputs give positive outputs, so it "
    "does not keep the sign of its input.",
    forward=lambda x: x * torch.tanh(x), derivative=_lisht_d,
    reference=lambda x: x * mp.tanh(x),
    monotonic=False, bounds=(0.0, inf),
    pros=("Non-zero gradient for negative inputs (slope -1 far left); smooth.",),
    cons=("Symmetric: f(-x) = f(x) discards the input's sign; not zero-centred; unbounded.",),
    references=("Roy, Manna, Dubey, Chaudhuri (2019), LiSHT: Non-parametric linearly scaled hyperbolic "
                "tangent activation function for neural networks. arXiv:1901.05894.",),
)


def _serf32(x):
    return _no_neg_inf(x) * torch.erf(_softplus(x, 1.0, None))


def _serf_d32(x):
    sp = _softplus(x, 1.0, None)
    xc = torch.clamp(x, -_SIGMOID_CLAMP, _SIGMOID_CLAMP)  # beyond it the second term is 0 (e^-x^2 or sigma)
    return torch.erf(sp) + xc * TWO_OVER_SQRT_PI * torch.exp(-sp * sp) * torch.sigmoid(xc)


SERF = Activation(
    name="serf", title="Serf (self-scalable erf)", family="gated", class_name="Serf",
    dprecision=(1e-15, 6e-17),  # measured: tests/test_catalog_verify.py, docs/precision.md
    formula=r"f(x) = x \operatorname{erf}\left(\log(1 + e^{x})\right)",
    dformula=r"f'(x) = \operatorname{erf}(s) + \frac{2x}{\sqrt{\pi}}\, e^{-s^2} \sigma(x),\ s = \log(1 + e^{x})",
    description="Mish with the tanh replaced by the error function: x times erf of softplus(x). "
    "Smooth, non-monotonic with a minimum of -0.3484 at x = -1.193, close to the identity "
    "for large x.",
    # PyTorch's float16/bfloat16 erf is off by 2.5% at 1e-5 and returns 0 at 2e-9 (bfloat16);
    # float32 is accurate, so the half types are computed there.
    forward=lambda x: _computed_in(torch.float32, _serf32, x),
    derivative=lambda x: _computed_in(torch.float32, _serf_d32, x),
    reference=lambda x: x * mp.erf(_mp_softplus(x)),
    monotonic=False, bounds=(-0.3484, inf),
    pros=("Smooth and self-regularising like Mish; reported slightly ahead of Mish and GELU.",),
    cons=("erf of a softplus: among the costliest activations.",),
    references=("Nag & Bhattacharyya (2021), SERF: Towards better training of deep neural networks "
                "using log-Softplus ERror activation Function. arXiv:2108.09598.",),
)


def _smish(x):
    return _no_neg_inf(x) * torch.tanh(torch.log1p(torch.sigmoid(x)))


def _smish_d(x):
    s = torch.sigmoid(x)
    t = torch.tanh(torch.log1p(s))  # at most tanh(log 2) = 0.6, so 1 - t^2 >= 0.64: no cancellation
    xc = torch.clamp(x, -_SIGMOID_CLAMP, _SIGMOID_CLAMP)  # sigma(x) sigma(-x) is 0 beyond it
    return t + xc * (1 - t * t) * torch.sigmoid(xc) * torch.sigmoid(-xc) / (1 + s)


SMISH = Activation(
    name="smish", title="Smish", family="gated", class_name="Smish",
    dprecision=(1e-15, 0.0),  # measured: tests/test_catalog_verify.py, docs/precision.md
    formula=r"f(x) = x \tanh\left(\log(1 + \sigma(x))\right)",
    dformula=r"f'(x) = t + x\,(1 - t^2)\,\frac{\sigma(x)\,\sigma(-x)}{1 + \sigma(x)},\ t = \tanh(\log(1 + \sigma(x)))",
    description="Mish's construction with the softplus replaced by log(1 + sigmoid(x)), which is "
    "bounded: the gate rises from 0 to tanh(log 2) = 0.6, so f grows like 0.6 x on the right. "
    "Minimum -0.2500 at x = -1.395.",
    forward=_smish, derivative=_smish_d,
    reference=lambda x: x * mp.tanh(mp.log1p(_mp_sig(x))),
    monotonic=False, bounds=(-0.25, inf),
    pros=("Smooth, non-monotonic, bounded below; gate saturates gently.",),
    cons=("Right-hand slope tends to 0.6, not 1; three transcendental functions.",),
    references=("Wang, Ren, Wang (2022), Smish: A novel activation function for deep learning methods. "
                "Electronics 11(4), 540. doi:10.3390/electronics11040540.",),
    notes=("The right-hand limit of the slope is tanh(log 2) = 3/5.",),
)


def _tanhexp_d(x):
    xc = torch.clamp(x, -_SIGMOID_CLAMP, _TANHEXP_CLAMP)
    u = torch.exp(xc)
    return torch.tanh(torch.exp(x)) + xc * (u * _tanh_d(u))  # u * sech^2 u first: x u overflows float16


TANHEXP = Activation(
    name="tanhexp", title="TanhExp", family="gated", class_name="TanhExp",
    dprecision=(1e-15, 2e-17),  # measured: tests/test_catalog_verify.py, docs/precision.md
    aliases=("tanh_exp",),
    formula=r"f(x) = x \tanh(e^{x})",
    dformula=r"f'(x) = \tanh(e^{x}) + x\,e^{x} \operatorname{sech}^2(e^{x})",
    description="The input gated by tanh of its exponential: the gate reaches 1 very fast for "
    "positive x (above 1 - 1e-9 from x = 2.4), so the right side is almost exactly the "
    "identity, while the left side dips to -0.3533 at x = -1.079 and returns to 0.",
    forward=lambda x: _no_neg_inf(x) * torch.tanh(torch.exp(x)), derivative=_tanhexp_d,
    # Beyond |x| = 1e6, tanh(e^x) is within exp(-2e^1e6) of 1 or of e^x -> 0 (mpmath cannot
    # form e^x for |x| near 1e400).
    reference=lambda x: x * mp.tanh(mp.exp(x)) if abs(x) < 1e6 else (x if x > 0 else 0 * x),
    monotonic=False, bounds=(-0.3533, inf),
    pros=("Identity-like for x > 2 with a smooth negative dip; designed for lightweight networks.",),
    cons=("The slope overshoots 1 (up to 1.062 at x = 0.70) before settling at 1.",),
    references=("Liu & Di (2020), TanhExp: A smooth activation function with high convergence speed for "
                "lightweight neural networks. arXiv:2003.09855.",),
)

# ---------------------------------------------------------------------------
# Inverse square root units (Carlile et al. 2017)
# ---------------------------------------------------------------------------
_CARLILE = ("Carlile, Delamarter, Kinney, Marti, Whitney (2017), Improving deep learning by inverse "
            "square root linear units (ISRLUs). arXiv:1710.09967.",)
_ALPHA = Param("alpha", 1.0, "scale of the square root; the limits of the saturating side are "
               "+-1/sqrt(alpha)", low=0.0, open_low=True)


def _isru_parts(x, alpha):
    """(t, u, s) with t = x clipped to [-1, 1], u = 1 / max(|x|, 1), s = sqrt(u^2 + a t^2): f = t / s and
    sqrt(1 + a x^2) = s / u. For |x| <= 1 (u = 1) that is x / sqrt(1 + a x^2) itself; beyond, sign(x) /
    sqrt(1/x^2 + a), which neither overflows (a x^2 does for |x| > 1e154) nor meets inf/inf at +-inf (u = 0).
    Branch-free: PyTorch's where and comparisons are not vectorised on the CPU (definitions._above)."""
    t = torch.clamp(x, -1, 1)
    u = torch.reciprocal(torch.clamp_min(x.abs(), 1))
    return t, u, torch.sqrt(u * u + alpha * t * t)


def _isru(x, alpha):
    t, _, s = _isru_parts(x, alpha)
    return t / s


def _isru_d(x, alpha):
    _, u, s = _isru_parts(x, alpha)
    return torch.pow(s / u, -3)  # (1 + a x^2)^(-3/2); s / u = inf at +-inf, whose cube's reciprocal is 0


ISRU = Activation(
    name="isru", title="ISRU (inverse square root unit)", family="sigmoidal", class_name="ISRU",
    dprecision=(1e-15, 0.0),  # measured: tests/test_catalog_verify.py, docs/precision.md
    params=(_ALPHA,),
    formula=r"f(x) = \frac{x}{\sqrt{1 + \alpha x^2}}",
    dformula=r"f'(x) = \left(\frac{1}{\sqrt{1 + \alpha x^2}}\right)^{3}",
    description="A sigmoid shape with range (-1/sqrt(alpha), 1/sqrt(alpha)) from one square root "
    "and no exponential: slope 1 at the origin, tails that approach their limits like 1/x^2. "
    "Proposed as a cheaper tanh for recurrent networks.",
    forward=_isru, derivative=_isru_d,
    reference=lambda x, alpha: x / mp.sqrt(1 + alpha * x * x),
    bounds=(-1.0, 1.0),
    settings=({"alpha": 0.25}, {"alpha": 3.0}),
    pros=("Zero-centred, smooth, identity near 0; cheaper than tanh on hardware with a fast rsqrt.",),
    cons=("Saturates on both sides (polynomially).",),
    references=_CARLILE,
    notes=("bounds are for alpha = 1 (in general +-1/sqrt(alpha)).",),
)


def _isrlu(x, alpha):
    return torch.clamp_min(x, 0) + _isru(torch.clamp_max(x, 0), alpha)  # one of the two terms is exactly 0


def _isrlu_d(x, alpha):
    return _isru_d(torch.clamp_max(x, 0), alpha)  # ISRU'(0) = 1 exactly: the right half-line's 1


ISRLU = Activation(
    name="isrlu", title="ISRLU (inverse square root linear unit)", family="rectifier", class_name="ISRLU",
    dprecision=(1e-15, 0.0),  # measured: tests/test_catalog_verify.py, docs/precision.md
    params=(_ALPHA,),
    formula=r"f(x) = \begin{cases} x & x \ge 0 \\ \frac{x}{\sqrt{1 + \alpha x^2}} & x < 0 \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 & x \ge 0 \\ \left(1 + \alpha x^2\right)^{-3/2} & x < 0 \end{cases}",
    description="The identity for x >= 0 and ISRU for x < 0: an ELU-like curve that approaches "
    "-1/sqrt(alpha) on the left, with a square root in place of ELU's exponential. Its first and "
    "second derivatives are continuous at 0 (the third jumps).",
    forward=_isrlu, derivative=_isrlu_d,
    reference=lambda x, alpha: x if x >= 0 else x / mp.sqrt(1 + alpha * x * x),
    bounds=(-1.0, inf),
    settings=({"alpha": 0.25}, {"alpha": 3.0}),
    pros=("ELU's shape (negative outputs, no dead units) at lower cost; C2 at 0.",),
    cons=("Saturates on the left; unbounded on the right.",),
    references=_CARLILE,
    notes=("bounds are for alpha = 1 (the lower bound is -1/sqrt(alpha)).",
           "f is twice continuously differentiable; f''' jumps at 0, which the catalog's "
           "'smooth' (no jump in f, f' or f'') does not distinguish."),
)

# ---------------------------------------------------------------------------
# Others: bent identity, SQNL, Gaussian, sinusoid, StarReLU
# ---------------------------------------------------------------------------
def _bent_identity(x):
    # (sqrt(x^2 + 1) - 1)/2 = x^2 / (2 (r + 1)): no cancellation near 0, and written
    # x (x / (r + 1)) / 2 so that x^2 never overflows.
    xf = _finite(x)
    r = torch.hypot(xf, torch.ones_like(xf))
    return xf * (xf / (r + 1)) / 2 + x


def _bent_identity_d(x):
    xf = _finite(x)  # x / r at +-inf would be inf / inf
    return 1 + xf / torch.hypot(xf, torch.ones_like(xf)) / 2  # 2 r overflows at the dtype's max


BENT_IDENTITY = Activation(
    name="bent_identity", title="Bent identity", family="linear", class_name="BentIdentity",
    aliases=("bent",),
    formula=r"f(x) = \frac{\sqrt{x^2 + 1} - 1}{2} + x",
    dformula=r"f'(x) = 1 + \frac{x}{2\sqrt{x^2 + 1}}",
    description="The identity plus half a hyperbola: slope 1/2 far left, 3/2 far right, 1 at "
    "the origin, and f(0) = 0. Smooth, monotonic and unbounded on both sides; it never "
    "saturates and never kills a gradient.",
    forward=_bent_identity, derivative=_bent_identity_d,
    reference=lambda x: (mp.sqrt(x * x + 1) - 1) / 2 + x,
    pros=("Gradient between 1/2 and 3/2 everywhere: cannot vanish or die.",),
    cons=("Almost linear: little non-linearity per layer; unbounded on both sides.",),
    references=("No single paper introduced it; it is listed in the widely copied tables of "
                "activation functions (e.g. Wikipedia, 'Activation function'). No arXiv id.",),
)


def _sqnl(x):
    xc = torch.clamp(x, -2, 2)
    return xc - xc * xc.abs() / 4


SQNL = Activation(
    name="sqnl", title="SQNL (square non-linearity)", family="sigmoidal", class_name="SQNL",
    formula=r"f(x) = \begin{cases} 1 & x > 2 \\ x - x^2/4 & 0 \le x \le 2 \\ "
            r"x + x^2/4 & -2 \le x < 0 \\ -1 & x < -2 \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 - |x|/2 & |x| \le 2 \\ 0 & |x| > 2 \end{cases}",
    description="A tanh-like sigmoid made of two parabolas: x - x|x|/4 on [-2, 2], clipped to "
    "+-1 outside, reached with zero slope at +-2. Needs only a multiply and an add, so it "
    "suits hardware without exponentials.",
    forward=_sqnl,
    derivative=lambda x: _keep_nan(x, torch.clamp(1 - x.abs() / 2, min=0)),
    reference=lambda x: (mp.mpf(1) if x > 2 else (-mp.mpf(1) if x < -2 else x - x * abs(x) / 4)),
    bounds=(-1.0, 1.0), smoothness="C1", kinks=(-2.0, 0.0, 2.0),
    pros=("Zero-centred, bounded, slope 1 at 0; no transcendental functions.",),
    cons=("Exactly zero gradient for |x| > 2; the second derivative jumps at 0 and +-2.",),
    references=("Wuraola & Patel (2018), SQNL: A new computationally efficient activation function. "
                "International Joint Conference on Neural Networks (IJCNN) 2018. No arXiv id.",),
)


def _gaussian(x):
    # exp(-x^2) with x^2 exact: exp(-fl(x^2)) alone has a relative error of x^2 eps (1e-13 at
    # x = 25). Narrower dtypes square exactly in float64; float64 keeps x^2 = p + e (Dekker) and
    # uses exp(-(p + e)) = exp(-p) (1 - e). Clamping at 40 changes no value (exp(-1600) is 0).
    if x.dtype != torch.float64:
        return torch.exp(-x.double() ** 2).to(x.dtype)
    p, e = _square(torch.clamp(x, -_GAUSS_CLAMP, _GAUSS_CLAMP))
    g = torch.exp(-p)
    return g - g * e


def _gaussian_d(x):
    xc = torch.clamp(x, -_GAUSS_CLAMP, _GAUSS_CLAMP)  # -2x e^(-x^2) would be -inf * 0 at -inf
    return -2 * xc * _gaussian(xc)


GAUSSIAN = Activation(
    name="gaussian", title="Gaussian", family="radial", class_name="Gaussian",
    aliases=("gauss",),
    formula=r"f(x) = e^{-x^2}", dformula=r"f'(x) = -2x\,e^{-x^2}",
    description="The bell curve: 1 at the origin, falling to 0 on both sides. A radial-basis "
    "unit rather than a rectifier: it responds to inputs near 0 and ignores large ones, "
    "in either direction.",
    forward=_gaussian, derivative=_gaussian_d,
    reference=lambda x: mp.exp(-x * x),
    monotonic=False, bounds=(0.0, 1.0),
    pros=("Smooth and bounded; localised response, as in radial-basis-function networks.",),
    cons=("Vanishing gradient on both sides; f(-x) = f(x) discards the sign.",),
    references=("Broomhead & Lowe (1988), Multivariable functional interpolation and adaptive networks. "
                "Complex Systems 2, 321-355.",),
    notes=("Computed in float64 and rounded once to the input's dtype (the square of x is kept to "
           "double-double precision).",),
)


def _fits(w: float, bits: int) -> bool:
    """Whether w has at most ``bits`` significant bits (then w x is exact in float64 for float32 x)."""
    m, _ = math.frexp(w)
    return (m * 2 ** bits).is_integer()


def _phase64(x, w0: float):
    """sin and cos of w0 x for float64 x, from the exact phase w0 x = p + e (Dekker).

    e is at most half an ulp of p. While |p| < 2^32 it is below 2^-21, and
    sin(p + e) = sin p + e cos p to within e^2 < 1e-12 ulp. The rare elements
    beyond (|x| > 1.4e8 for w0 = 30) go to :func:`_phase64_far`.
    """
    p, e = _product(x, w0)
    near = p.abs() < 2.0 ** 32
    e = torch.where(near, e, torch.zeros_like(e))
    sp, cp = torch.sin(p), torch.cos(p)
    s, c = sp + e * cp, cp - e * sp
    far = ~near & torch.isfinite(x)  # sin has no limit at +-inf: NaN stays there
    if torch._C._functorch.peek_interpreter_stack() is not None:  # torch.func: no data-dependent branch
        s_far, c_far = _phase64_far(x, w0)
        s, c = torch.where(far, s_far, s), torch.where(far, c_far, c)
    elif bool(far.any()):  # rare, so the costlier exact formula runs on those elements alone
        s_far, c_far = _phase64_far(x[far], w0)
        s, c = s.masked_scatter(far, s_far), c.masked_scatter(far, c_far)
    return s, c


def _phase64_far(x, w0: float):
    """sin and cos of w0 x for |w0 x| >= 2^32: e can exceed 1 there, so sin(p + e) = sin p cos e + cos p sin e.

    Where w0 x would overflow (|x| within a factor 16 w0 of the largest
    float64), x is scaled by 2^-k first and the angle doubled back k times,
    k = 4 + ceil(log2 w0); each doubling can double the error (5e-14 at most
    for w0 = 30).
    """
    k = 4 + max(0, math.ceil(math.log2(w0)))
    huge = x.abs() > 2.0 ** 1020 / max(w0, 1.0)
    p, e = _product(torch.where(huge, x * 2.0 ** -k, x), w0)
    sp, cp, se, ce = torch.sin(p), torch.cos(p), torch.sin(e), torch.cos(e)
    s, c = sp * ce + cp * se, cp * ce - sp * se
    for _ in range(k):
        s, c = torch.where(huge, 2 * s * c, s), torch.where(huge, (c - s) * (c + s), c)
    return s, c


def _sinusoid(x, w0, which):
    """sin(w0 x) (which = 0) or w0 cos(w0 x) (which = 1), rounded once to x's dtype."""
    if x.dtype == torch.float64:
        sc = _phase64(x, w0)[which]
    elif _fits(w0, 29):  # x has at most 24 significant bits, so x * w0 is exact in float64
        sc = (torch.sin, torch.cos)[which](x.double() * w0)
    else:
        sc = _phase64(x.double(), w0)[which]
    return (sc if which == 0 else w0 * sc).to(x.dtype)


SINUSOID = Activation(
    name="sinusoid", title="Sine (SIREN)", family="periodic", class_name="Sine",
    aliases=("sine", "siren", "sin"),
    params=(Param("w0", 30.0, "frequency; SIREN uses 30 in every layer, 1 gives the plain sine",
                  low=0.0, open_low=True, high=1e4),),
    formula=r"f(x) = \sin(\omega_0 x)", dformula=r"f'(x) = \omega_0 \cos(\omega_0 x)",
    description="A periodic activation: the sine of the input times a frequency w0. SIREN uses "
    "w0 = 30 so that the first layer spans many periods over inputs in [-1, 1]; networks built "
    "from it represent signals and their derivatives (images, sound, signed distance "
    "functions) in fine detail. It needs SIREN's own weight initialisation to train well.",
    forward=lambda x, w0: _sinusoid(x, w0, 0),
    derivative=lambda x, w0: _sinusoid(x, w0, 1),
    reference=lambda x, w0: mp.sin(w0 * x),
    monotonic=False, bounds=(-1.0, 1.0),
    settings=({"w0": 1.0},),
    pros=("Derivatives of any order are again sines: suited to fitting signals with their gradients.",),
    cons=("Periodic: many inputs map to the same output; no limit at +-inf (f(+-inf) is NaN).",
          "Needs SIREN's initialisation (uniform in +-sqrt(6/n)/w0), which actlab does not apply."),
    references=("Sitzmann, Martel, Bergman, Lindell, Wetzstein (2020), Implicit neural representations "
                "with periodic activation functions. NeurIPS. arXiv:2006.09661.",),
    notes=("The phase w0 x is kept exactly (as p + e, Dekker's two-product), so f is accurate to a few "
           "ulps at every finite x (a plain sin(w0 * x) is off by up to |w0 x| eps: 3e-11 at x = 1e4). "
           "Where w0 x overflows float64 the angle is halved k = 4 + log2(w0) times and doubled back, "
           "which costs up to 2^k ulps there (5e-14 for w0 = 30). Float32 and lower are computed in "
           "float64 and rounded once.",
           "sin has no limit at +-inf: f(+-inf) and f'(+-inf) are NaN."),
)


def _star_relu(x, scale, bias):
    r = torch.clamp_min(x, 0)
    # (s r) r rather than s r^2: r^2 overflows where s r^2 (s < 1) does not.
    return r * (_channel(scale, x) * r) + _channel(bias, x)


STAR_RELU = Activation(
    name="star_relu", title="StarReLU", family="rectifier", class_name="StarReLU",
    precision=(4e-16, 2.5e-17),  # measured: tests/test_catalog_verify.py, docs/precision.md
    aliases=("starrelu",),
    params=(
        Param("scale", 2 / math.sqrt(5), "s; 1/sqrt(Var relu(z)^2) = 2/sqrt 5 = 0.8944 for z ~ N(0, 1)",
              low=0.0, can_learn=True),
        Param("bias", -1 / math.sqrt(5), "b; -s E relu(z)^2 = -1/sqrt 5 = -0.4472 for z ~ N(0, 1)",
              can_learn=True),
    ),
    formula=r"f(x) = s\,\max(0, x)^2 + b", dformula=r"f'(x) = 2 s\,\max(0, x)",
    description="Squared ReLU with a scale and a bias chosen so that a standard normal input "
    "gives an output of mean 0 and variance 1 (s = 0.8944, b = -0.4472); in MetaFormer both "
    "are learned, one scalar each per layer. Constant b for x <= 0, quadratic growth above.",
    forward=_star_relu,
    derivative=lambda x, scale, bias: 2 * _channel(scale, x) * torch.clamp_min(x, 0),
    reference=lambda x, scale, bias: scale * max(mp.mpf(0), x) ** 2 + bias,
    bounds=(-0.4472, inf), smoothness="C1", kinks=(0.0,),
    settings=({"scale": 1.0, "bias": 0.0},),
    pros=("Fixes squared ReLU's shifted, widening output distribution at almost no cost (two scalars).",
          "In the MetaFormer baselines, better accuracy than GELU with fewer activation FLOPs."),
    cons=("Zero gradient for x < 0, like ReLU; quadratic growth can blow up activations.",),
    references=("Yu, Si, Zhou, Yu, Feng, Wang (2022), MetaFormer baselines for vision. arXiv:2210.13452.",
                "So et al. (2021), Primer: Searching for efficient Transformers for language modeling "
                "(squared ReLU). arXiv:2109.08668."),
    notes=("Defaults are the exact 2/sqrt 5 and -1/sqrt 5 (the paper prints 0.8944 and -0.4472). "
           "As in the paper, learn both: actlab.get('star_relu', scale='learnable', bias='learnable').",
           "bounds are for the defaults (the lower bound is b)."),
)

ALL: tuple[Activation, ...] = (
    ELISH, HARD_ELISH, LISHT, SERF, SMISH, TANHEXP, ISRU, ISRLU, BENT_IDENTITY, SQNL,
    GAUSSIAN, SINUSOID, STAR_RELU,
)
