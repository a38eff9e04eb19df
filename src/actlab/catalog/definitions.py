r"""Every activation actlab knows, each defined exactly once.

A definition gives the torch forward and analytic derivative, an independent
mpmath reference (used only by the tests), LaTeX for both, parameters with
their valid ranges, declared properties, a description in our own words,
pros and cons, and references. Everything else in actlab derives from here.

Conventions, stated once: at a kink the derivative is the value PyTorch's
backward gives for the same op (ReLU'(0) = 0, LeakyReLU'(0) = a, ReLU6'(6) = 0,
Hard-Swish'(-3) = 0 and '(3) = 1, ELU'(0) = alpha); tests check this for every
activation with a native op, and docs/precision.md lists them. NaN in gives
NaN out for both forward and derivative.
"""
from __future__ import annotations

import math

import mpmath as mp
import torch
import torch.nn.functional as F

from .spec import Activation, Param

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
GELU_TANH_C = 0.044715
GELU_SIGMOID_K = 1.702
# Klambauer et al. (2017), eq. 14, to full double precision.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

inf = math.inf


def _keep_nan(x, y):
    """Return y, but NaN wherever x is NaN (comparisons drop NaN silently).

    As y times clamp(x, 2, 1): with min above max, clamp gives max, 1, for every x but NaN (infinities
    included), NaN for NaN, and a zero gradient everywhere (documented PyTorch semantics, on every backend).
    Two vectorised passes, where ``torch.where(torch.isnan(x), x, y)`` takes PyTorch's unvectorised bool
    kernels (about 3.6 ns an element against 0.3 on the benchmark machine).
    """
    return y * torch.clamp(x, 2.0, 1.0)


def _above(x, k):
    """1 where x > k, else 0 (NaN gives 0), without a bool tensor: sign and clamp are vectorised on the CPU,
    comparisons and where are not (pytorch/pytorch#25480; a where on a random condition costs ~3 ns an element)."""
    return torch.clamp(torch.sign(x if k == 0 else x - k), 0, 1)


def _step_le(x, k):
    """1 where x <= k, else 0 (NaN gives 1: callers wrap the result in _keep_nan)."""
    return 1 - _above(x, k)


def _inside(x, lo, hi):
    """1 where lo < x < hi, else 0 (NaN gives 0)."""
    return _above(x, lo) * torch.clamp(torch.sign(hi - x), 0, 1)


def _mask(cond, x):
    return cond.to(x.dtype)


def _channel(w, x):
    """Broadcast a per-channel parameter (shape (C,) or ()) over dim 1 of x."""
    if not torch.is_tensor(w) or w.dim() == 0 or w.numel() == 1:
        return w.reshape(()) if torch.is_tensor(w) else w
    shape = [1] * x.dim()
    shape[1 if x.dim() > 1 else 0] = w.numel()
    return w.reshape(shape)


# Beyond |x| = 50 every gate below (Phi, sigmoid of the GELU-tanh argument) is
# exactly 0 or 1 in every float dtype; clamping there keeps x * gate'(x) from
# becoming inf * 0 = NaN, and keeps x**2 finite in float16.
_GATE_CLAMP = 50.0
# The same for sigmoid gates: sigmoid(-z) is exactly 0 in every dtype for z > 1000.
_SIGMOID_CLAMP = 1000.0


def _finite(x):
    """x with +-inf replaced by the dtype's largest finite value (NaN kept)."""
    big = torch.finfo(x.dtype).max
    return torch.clamp(x, -big, big)


def _no_neg_inf(x):
    """x with -inf replaced by the most negative finite number: for x * gate(x), whose gate is 0 there."""
    return torch.clamp_min(x, -torch.finfo(x.dtype).max)


def _mp_sig(x):
    return 1 / (1 + mp.exp(-x))


def _mp_softplus(x):
    return mp.log1p(mp.exp(x)) if x < 0 else x + mp.log1p(mp.exp(-x))


def _tanh_d(x):
    # sech^2 x = 4e/(1+e)^2 with e = exp(-2|x|): 1 - tanh^2 x cancels for large |x|.
    e = torch.exp(-2 * x.abs())
    return 4 * e / (1 + e) ** 2


# ---------------------------------------------------------------------------
# Linear and threshold
# ---------------------------------------------------------------------------
IDENTITY = Activation(
    name="identity", title="Identity", family="linear", class_name="Identity",
    aliases=("linear", "none"),
    formula=r"f(x) = x", dformula=r"f'(x) = 1",
    description="Passes its input through unchanged. A network made only of "
    "linear maps and identities collapses to one linear map, which is why "
    "every hidden layer needs something else; it is the baseline and the usual "
    "output of a regression head.",
    forward=lambda x: x.clone(),
    derivative=lambda x: _keep_nan(x, torch.ones_like(x)),
    reference=lambda x: x,
    pros=("Free to compute; gradient is exactly 1, so it never vanishes or explodes by itself.",),
    cons=("Adds no non-linearity: stacked linear layers stay linear.",),
    references=("Any linear-algebra text: a composition of affine maps is affine.",),
)

BINARY_STEP = Activation(
    name="binary_step", title="Binary step", family="threshold", class_name="BinaryStep",
    aliases=("step", "heaviside"),
    formula=r"f(x) = \begin{cases} 1 & x \ge 0 \\ 0 & x < 0 \end{cases}",
    dformula=r"f'(x) = 0 \quad (x \ne 0;\ \text{undefined at } 0)",
    description="The perceptron's all-or-nothing unit: on when the input is "
    "non-negative, off otherwise. Its derivative is zero wherever it exists, so "
    "gradient descent receives no signal through it; it is here for history and "
    "for contrast.",
    # where rather than _keep_nan: differentiated, it keeps a 1-byte mask, not the float step and factor
    forward=lambda x: torch.where(torch.isnan(x), x, _mask(x >= 0, x)),
    derivative=lambda x: _keep_nan(x, torch.zeros_like(x)),
    reference=lambda x: mp.mpf(1) if x >= 0 else mp.mpf(0),
    bounds=(0.0, 1.0), smoothness="discontinuous", kinks=(0.0,),
    pros=("Cheapest possible output, exactly binary.",),
    cons=("Zero gradient almost everywhere: cannot be trained by backpropagation.",
          "Discontinuous at 0."),
    references=("Rosenblatt (1958), The perceptron.",),
    notes=("f(0) = 1 here (as numpy.heaviside(0, 1)); f'(0) is reported as 0.",),
)

# ---------------------------------------------------------------------------
# Sigmoidal
# ---------------------------------------------------------------------------
SIGMOID = Activation(
    name="sigmoid", title="Logistic sigmoid", family="sigmoidal", class_name="Sigmoid",
    aliases=("logistic", "sigm"),
    formula=r"f(x) = \sigma(x) = \frac{1}{1 + e^{-x}}",
    dformula=r"f'(x) = \sigma(x)\,(1 - \sigma(x))",
    description="Squashes any real number into (0, 1), which reads as a "
    "probability. Its slope is at most 1/4 (at 0), so a chain of sigmoids shrinks "
    "gradients by at least a factor 4 per layer; the output is never "
    "zero-centred. Still the right choice for a binary output or a gate.",
    forward=torch.sigmoid, native=torch.sigmoid,
    derivative=lambda x: torch.sigmoid(x) * torch.sigmoid(-x),
    reference=_mp_sig,
    bounds=(0.0, 1.0),
    pros=("Smooth and bounded; output is a probability.", "Natural gate for LSTM/GRU."),
    cons=("Saturates on both sides: gradients vanish for |x| > 5.",
          "Maximum slope 0.25, so deep stacks lose gradient geometrically.",
          "Not zero-centred: every unit's output is positive."),
    references=("Rumelhart, Hinton, Williams (1986), Learning representations by back-propagating errors.",),
)

TANH = Activation(
    name="tanh", title="Hyperbolic tangent", family="sigmoidal", class_name="Tanh",
    dprecision=(1e-15, 0.0),  # measured: tests/test_catalog_verify.py
    formula=r"f(x) = \tanh x = \frac{e^{x} - e^{-x}}{e^{x} + e^{-x}}",
    dformula=r"f'(x) = 1 - \tanh^2 x",
    description="A rescaled sigmoid, tanh(x) = 2 sigma(2x) - 1, with outputs in "
    "(-1, 1) centred on zero and slope 1 at the origin. It still saturates on "
    "both sides.",
    forward=torch.tanh, native=torch.tanh,
    derivative=lambda x: _tanh_d(x),
    reference=mp.tanh,
    bounds=(-1.0, 1.0),
    pros=("Zero-centred, identity-like near 0.", "Bounded and smooth."),
    cons=("Saturates on both sides, so deep stacks still vanish.",),
    references=("LeCun, Bottou, Orr, Mueller (1998), Efficient BackProp.",),
)

ARCTAN = Activation(
    name="arctan", title="Arctangent", family="sigmoidal", class_name="Arctan",
    aliases=("atan",),
    formula=r"f(x) = \arctan x", dformula=r"f'(x) = \frac{1}{1 + x^2}",
    description="A sigmoid shape with range (-pi/2, pi/2) whose tails approach "
    "their limits only polynomially: the slope decays like 1/x^2 rather than "
    "exponentially, so it saturates more gently than tanh.",
    forward=torch.atan, native=torch.atan,
    derivative=lambda x: 1 / (1 + x * x),
    reference=mp.atan,
    bounds=(-math.pi / 2, math.pi / 2),
    pros=("Zero-centred, slope 1 at 0, gentler saturation than tanh.",),
    cons=("Still saturates; rarely used, so few tuned recipes exist.",),
    references=("Standard function; discussed as an activation in Glorot & Bengio (2010).",),
)

SOFTSIGN = Activation(
    name="softsign", title="Softsign", family="sigmoidal", class_name="Softsign",
    formula=r"f(x) = \frac{x}{1 + |x|}", dformula=r"f'(x) = \frac{1}{(1 + |x|)^2}",
    description="A rational sigmoid with range (-1, 1): no exponentials, and "
    "polynomial rather than exponential tails, so it saturates more slowly "
    "than tanh.",
    forward=lambda x: (lambda xf: xf / (1 + xf.abs()))(_finite(x)),
    derivative=lambda x: 1 / (1 + x.abs()) ** 2,
    reference=lambda x: x / (1 + abs(x)),
    bounds=(-1.0, 1.0),
    pros=("Cheap (no exp); zero-centred; slower saturation than tanh.",),
    cons=("Still saturating; the second derivative jumps at 0.",),
    references=("Bergstra et al. (2009), Quadratic polynomials learn better image features; Glorot & Bengio (2010).",),
    smoothness="C1", kinks=(0.0,),
)

SOFTPLUS = Activation(
    name="softplus", title="Softplus", family="rectifier", class_name="Softplus",
    params=(
        Param("beta", 1.0, "sharpness; larger beta approaches ReLU", low=0.0, open_low=True),
        Param("threshold", None, "above beta*x > threshold return x exactly (PyTorch's default is 20); "
              "None computes the exact value everywhere", low=0.0, open_low=True, allow_none=True),
    ),
    formula=r"f(x) = \frac{1}{\beta}\log\left(1 + e^{\beta x}\right)",
    dformula=r"f'(x) = \sigma(\beta x)",
    description="A smooth ReLU: the log of one plus an exponential, which is "
    "close to 0 for very negative inputs and close to x for large ones. Its "
    "derivative is exactly the sigmoid. Computed as max(x,0) + log1p(exp(-|beta x|))/beta "
    "so that it neither overflows nor loses precision at large |beta x|.",
    forward=lambda x, beta, threshold: _softplus(x, beta, threshold),
    derivative=lambda x, beta, threshold: _softplus_d(x, beta, threshold),
    reference=lambda x, beta, threshold: (
        x if threshold is not None and beta * x > threshold else _mp_softplus(beta * x) / beta),
    native=lambda x, beta, threshold: F.softplus(x, beta=beta, threshold=threshold),
    native_when=lambda p: p["threshold"] is not None,
    bounds=(0.0, inf),
    settings=({"beta": 2.0}, {"beta": 0.5}, {"threshold": 20.0}),
    pros=("Smooth everywhere, strictly positive gradient: no dead units.",),
    cons=("Not zero-centred; costlier than ReLU (exp and log).",
          "With PyTorch's threshold=20 the result jumps by up to ~2e-9 at the switch."),
    references=("Dugas et al. (2001), Incorporating second-order functional knowledge for better option pricing.",
                "Glorot, Bordes, Bengio (2011), Deep sparse rectifier neural networks."),
    notes=("PyTorch's softplus switches to the identity above beta*x > 20; actlab's default "
           "threshold=None keeps the exact value (pass threshold=20 for PyTorch's behaviour).",),
)


def _is_one(v) -> bool:
    """Is v the number 1 (not a tensor: a learned parameter is never skipped)? 1 * x and y / 1 are x and y to
    the bit (-0, infinities and NaN included), so a formula may skip them: each is a pass over the tensor."""
    return not torch.is_tensor(v) and v == 1


def _softplus(x, beta, threshold):
    one = _is_one(beta)
    bx = x if one else beta * x
    # max(x, 0) outside the division: beta * x may overflow where the result does not.
    tail = torch.log1p(torch.exp(-bx.abs()))
    y = torch.clamp_min(x, 0) + (tail if one else tail / beta)
    if threshold is not None:
        y = torch.where(bx > threshold, x, y)
    return y


def _softplus_d(x, beta, threshold):
    bx = x if _is_one(beta) else beta * x
    d = torch.sigmoid(bx)
    if threshold is not None:
        d = torch.where(bx > threshold, torch.ones_like(d), d)
    return d


LOGSIGMOID = Activation(
    name="logsigmoid", title="Log-sigmoid", family="sigmoidal", class_name="LogSigmoid",
    aliases=("log_sigmoid",),
    formula=r"f(x) = \log \sigma(x) = -\log(1 + e^{-x})",
    dformula=r"f'(x) = 1 - \sigma(x) = \sigma(-x)",
    description="The logarithm of the sigmoid, i.e. minus softplus of -x: "
    "linear for very negative inputs, approaching 0 from below for large ones. "
    "It is the stable way to compute log-probabilities of a binary outcome.",
    forward=lambda x: -_softplus(-x, 1.0, None), native=F.logsigmoid,
    derivative=lambda x: torch.sigmoid(-x),
    reference=lambda x: -_mp_softplus(-x),
    bounds=(-inf, 0.0),
    pros=("Numerically stable log-probability; never saturates on the left.",),
    cons=("Output always negative; saturates on the right.",),
    references=("Standard; see e.g. Bishop (2006), Pattern Recognition and Machine Learning, 4.3.2.",),
)

HARDSIGMOID = Activation(
    name="hardsigmoid", title="Hard sigmoid", family="sigmoidal", class_name="HardSigmoid",
    aliases=("hard_sigmoid",),
    formula=r"f(x) = \frac{\operatorname{ReLU6}(x + 3)}{6} = \min(\max(0, x/6 + 1/2), 1)",
    dformula=r"f'(x) = \begin{cases} 1/6 & -3 < x < 3 \\ 0 & \text{otherwise} \end{cases}",
    description="A piecewise-linear stand-in for the sigmoid: a ramp from 0 at "
    "x = -3 to 1 at x = 3. Cheap on mobile hardware; used as the gate of "
    "Hard-Swish. (Keras 2 used a ramp of slope 0.2; actlab, like PyTorch and "
    "MobileNetV3, uses 1/6.)",
    forward=lambda x: torch.clamp((x + 3) / 6, 0, 1), native=F.hardsigmoid,
    derivative=lambda x: _keep_nan(x, _mask((x > -3) & (x < 3), x) / 6),
    reference=lambda x: min(max(mp.mpf(0), x / 6 + mp.mpf(1) / 2), mp.mpf(1)),
    bounds=(0.0, 1.0), smoothness="C0", kinks=(-3.0, 3.0),
    pros=("No exponentials; quantises well.",),
    cons=("Zero gradient outside (-3, 3).",),
    references=("Howard et al. (2019), Searching for MobileNetV3.",
                "Courbariaux, Bengio, David (2015), BinaryConnect."),
)

# ---------------------------------------------------------------------------
# Rectifiers
# ---------------------------------------------------------------------------
RELU = Activation(
    name="relu", title="Rectified linear unit", family="rectifier", class_name="ReLU",
    formula=r"f(x) = \max(0, x)",
    dformula=r"f'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}",
    description="Zero for negative inputs, the identity for positive ones. The "
    "gradient is exactly 1 wherever the unit is active, so it does not shrink "
    "with depth, and the zeros make representations sparse. A unit whose input "
    "stays negative gets no gradient and can die.",
    forward=lambda x: torch.clamp_min(x, 0), native=F.relu,
    derivative=lambda x: _keep_nan(x, _above(x, 0.0)),  # branch-free (_above): ReGLU's gate derivative
    reference=lambda x: max(mp.mpf(0), x),
    bounds=(0.0, inf), smoothness="C0", kinks=(0.0,),
    pros=("Cheapest non-linearity; no saturation for x > 0; sparse activations.",),
    cons=("Dead units: zero gradient for x < 0.", "Not zero-centred; unbounded output."),
    references=("Nair & Hinton (2010), Rectified linear units improve restricted Boltzmann machines.",
                "Glorot, Bordes, Bengio (2011), Deep sparse rectifier neural networks."),
)

RELU6 = Activation(
    name="relu6", title="ReLU6", family="rectifier", class_name="ReLU6",
    formula=r"f(x) = \min(\max(0, x), 6)",
    dformula=r"f'(x) = \begin{cases} 1 & 0 < x < 6 \\ 0 & \text{otherwise} \end{cases}",
    description="ReLU capped at 6, which keeps activations in a range that "
    "low-precision arithmetic represents well. Above 6 the gradient is zero "
    "again, so a unit can saturate on that side too.",
    forward=lambda x: torch.clamp(x, 0, 6), native=F.relu6, native_range=1.0, fused=(),
    derivative=lambda x: _keep_nan(x, _mask((x > 0) & (x < 6), x)),
    reference=lambda x: min(max(mp.mpf(0), x), mp.mpf(6)),
    bounds=(0.0, 6.0), smoothness="C0", kinks=(0.0, 6.0),
    pros=("Bounded output; robust under fixed-point quantisation.",),
    cons=("Dead for x < 0 and saturated for x > 6.",),
    references=("Krizhevsky (2010), Convolutional deep belief networks on CIFAR-10.",
                "Howard et al. (2017), MobileNets."),
)

LEAKY_RELU = Activation(
    name="leaky_relu", title="Leaky ReLU", family="rectifier", class_name="LeakyReLU",
    aliases=("lrelu", "leakyrelu"),
    params=(Param("negative_slope", 0.01, "slope for x < 0; PyTorch and JAX use 0.01, Keras' LeakyReLU 0.3 "
                  "(Keras 3: 0.2)", low=0.0),),
    formula=r"f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}",
    description="ReLU with a small slope a for negative inputs, so that no unit "
    "ever receives exactly zero gradient. With a = 0.2, an input of -5 maps to "
    "-1 (and 5 maps to 5).",
    forward=lambda x, negative_slope: torch.where(x > 0, x, negative_slope * x),
    native=lambda x, negative_slope: F.leaky_relu(x, negative_slope),
    derivative=lambda x, negative_slope: _keep_nan(
        x, torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))),
    reference=lambda x, negative_slope: x if x > 0 else negative_slope * x,
    bounds=(-inf, inf), smoothness="C0", kinks=(0.0,),
    settings=({"negative_slope": 0.2}, {"negative_slope": 0.3}),
    pros=("No dead units; as cheap as ReLU.",),
    cons=("The slope is one more hyperparameter; not zero-centred.",),
    references=("Maas, Hannun, Ng (2013), Rectifier nonlinearities improve neural network acoustic models.",),
    notes=("Default slopes differ: PyTorch and JAX 0.01; tf.keras LeakyReLU 0.3 (Keras 3: 0.2); "
           "seed 000's experiment uses 0.2, which is what `actlab compare` uses.",),
)

def _as_prelu_weight(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """F.prelu's weight: 1-D, in x's dtype (the module's own already is: no op then, felt on small tensors)."""
    return weight if weight.dim() == 1 and weight.dtype == dtype else weight.reshape(-1).to(dtype)


PRELU = Activation(
    name="prelu", title="Parametric ReLU", family="rectifier", class_name="PReLU",
    params=(
        Param("weight", 0.25, "initial value of the learned negative slope", always_learned=True),
        Param("num_parameters", 1, "1 for a single shared slope, or the number of channels (dim 1)",
              low=1, kind=int, passed=False),
    ),
    formula=r"f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases},\ a \text{ learned}",
    dformula=r"f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}",
    description="Leaky ReLU whose negative slope is learned by gradient descent, "
    "either one slope shared by the layer or one per channel.",
    forward=lambda x, weight: torch.where(x > 0, x, _channel(weight, x) * x),
    native=lambda x, weight: F.prelu(x, _as_prelu_weight(weight, x.dtype)),
    derivative=lambda x, weight: _keep_nan(
        x, torch.where(x > 0, torch.ones_like(x), (_channel(weight, x) * torch.ones_like(x)).to(x.dtype))),
    reference=lambda x, weight: x if x > 0 else weight * x,
    bounds=(-inf, inf), smoothness="C0", kinks=(0.0,),
    pros=("Learns how much to leak; negligible extra parameters.",),
    cons=("Can overfit on small data; weight decay should not be applied to the slope.",),
    references=("He, Zhang, Ren, Sun (2015), Delving deep into rectifiers.",),
)

RRELU = Activation(
    name="rrelu", title="Randomised leaky ReLU", family="rectifier", class_name="RReLU",
    params=(
        Param("lower", 1 / 8, "lower bound of the random slope", low=0.0),
        Param("upper", 1 / 3, "upper bound of the random slope", low=0.0),
    ),
    formula=r"f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases},\ "
            r"a \sim U(l, u) \text{ in training},\ a = \tfrac{l+u}{2} \text{ in evaluation}",
    dformula=r"f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}",
    description="Leaky ReLU whose slope is drawn at random per element during "
    "training (a regulariser) and fixed to the mean of its range at evaluation. "
    "The derivative, properties and plots here are those of evaluation mode.",
    forward=lambda x, lower, upper: torch.where(x > 0, x, (lower + upper) / 2 * x),
    native=lambda x, lower, upper, training=False: F.rrelu(x, lower, upper, training=training),
    derivative=lambda x, lower, upper: _keep_nan(
        x, torch.where(x > 0, torch.ones_like(x), torch.full_like(x, (lower + upper) / 2))),
    reference=lambda x, lower, upper: x if x > 0 else (lower + upper) / 2 * x,
    check=lambda p: (f"parameter 'lower' = {p['lower']} must not exceed 'upper' = {p['upper']}"
                     if p["lower"] > p["upper"] else None),
    bounds=(-inf, inf), smoothness="C0", kinks=(0.0,), stochastic=True,
    pros=("Random slopes act as a regulariser.",),
    cons=("Training and evaluation behave differently.",),
    references=("Xu, Wang, Chen, Li (2015), Empirical evaluation of rectified activations in convolutional network.",),
)

LEAKY_RELU6 = Activation(
    name="leaky_relu6", title="Leaky ReLU6 (hybrid)", family="rectifier", class_name="LeakyReLU6",
    aliases=("relu6_leaky", "leaky6"),
    params=(Param("negative_slope", 0.01, "slope for x < 0", low=0.0),),
    formula=r"f(x) = \begin{cases} a x & x < 0 \\ x & 0 \le x \le 6 \\ 6 & x > 6 \end{cases}",
    dformula=r"f'(x) = \begin{cases} a & x \le 0 \\ 1 & 0 < x < 6 \\ 0 & x \ge 6 \end{cases}",
    description="The hybrid that seed 002 suggests and no framework ships: ReLU6's "
    "cap at 6 against exploding activations, with Leaky ReLU's slope for "
    "negative inputs against dead units. Above 6 the unit still saturates.",
    # Branch-free: the clip to [0, 6] plus the slope's share below 0. Plain autograd of it would keep no more
    # than x, but its clamp gradients at 0 and 6 are not the convention below, so the module takes the analytic
    # Function (module.composite_agrees_at_kinks).
    forward=lambda x, negative_slope: torch.clamp(x, 0.0, 6.0) + negative_slope * torch.clamp_max(x, 0.0),
    # At 0 the slope a, as F.leaky_relu's backward; at 6 zero, as F.relu6's. Branch-free: _step_le, _inside.
    derivative=lambda x, negative_slope: _keep_nan(x, negative_slope * _step_le(x, 0.0) + _inside(x, 0.0, 6.0)),
    reference=lambda x, negative_slope: negative_slope * x if x < 0 else min(x, mp.mpf(6)),
    bounds=(-inf, 6.0), smoothness="C0", kinks=(0.0, 6.0),
    settings=({"negative_slope": 0.2},),
    pros=("No dead region for x < 0, bounded above.",),
    cons=("Saturates (zero gradient) for x > 6; untested in the literature.",),
    references=("Seed 002 (public write-up 'Everything you need to know about activation functions') proposes it.",),
)

RELU_SQUARED = Activation(
    name="relu_squared", title="Squared ReLU", family="rectifier", class_name="ReLUSquared",
    aliases=("squared_relu", "relu2"),
    formula=r"f(x) = \max(0, x)^2", dformula=r"f'(x) = 2\max(0, x)",
    description="The square of ReLU, found by architecture search for "
    "Transformer feed-forward layers (Primer). Zero for negative inputs, "
    "quadratic growth for positive ones, continuous derivative.",
    forward=lambda x: torch.clamp_min(x, 0) ** 2,
    derivative=lambda x: 2 * torch.clamp_min(x, 0),
    reference=lambda x: max(mp.mpf(0), x) ** 2,
    bounds=(0.0, inf), smoothness="C1", kinks=(0.0,),
    pros=("Cheap; worked well in Transformer MLPs.",),
    cons=("Dead for x < 0; quadratic growth can explode activations.",),
    references=("So et al. (2021), Primer: Searching for efficient Transformers for language modeling.",),
)

# ---------------------------------------------------------------------------
# Exponential linear
# ---------------------------------------------------------------------------
ELU = Activation(
    name="elu", title="Exponential linear unit", family="exponential", class_name="ELU",
    params=(Param("alpha", 1.0, "value approached as x -> -inf is -alpha", low=0.0),),
    formula=r"f(x) = \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}",
    description="The identity for positive inputs and a smooth exponential "
    "approach to -alpha for negative ones. Negative outputs pull the mean "
    "activation towards zero, and the negative side saturates softly, which "
    "damps noise. Differentiable at 0 only when alpha = 1.",
    forward=lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(x)),
    native=lambda x, alpha: F.elu(x, alpha), native_range=1.0, fused=("alpha",),
    derivative=lambda x, alpha: torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x)),
    reference=lambda x, alpha: x if x > 0 else alpha * mp.expm1(x),
    bounds=(-1.0, inf), smoothness="C1", kinks=(0.0,),
    settings=({"alpha": 0.2}, {"alpha": 2.0}),
    pros=("Mean activation closer to zero than ReLU; no dead units.",),
    cons=("exp on the negative side is costlier than ReLU.",),
    references=("Clevert, Unterthiner, Hochreiter (2016), Fast and accurate deep network learning by ELUs.",),
    notes=("bounds are for alpha = 1 (the lower bound is -alpha); the derivative jumps at 0 unless alpha = 1.",),
)

CELU = Activation(
    name="celu", title="Continuously differentiable ELU", family="exponential", class_name="CELU",
    params=(Param("alpha", 1.0, "scale; the value approached as x -> -inf is -alpha", low=0.0, open_low=True),),
    formula=r"f(x) = \max(0, x) + \min\!\left(0, \alpha\,(e^{x/\alpha} - 1)\right)",
    dformula=r"f'(x) = \begin{cases} 1 & x > 0 \\ e^{x/\alpha} & x \le 0 \end{cases}",
    description="ELU reparameterised so that its slope is 1 on both sides of "
    "the origin for every alpha: continuously differentiable, and scale-similar "
    "in alpha.",
    forward=lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(x / alpha)),
    native=lambda x, alpha: F.celu(x, alpha), native_range=1.0, fused=("alpha",),
    derivative=lambda x, alpha: torch.where(x > 0, torch.ones_like(x), torch.exp(x / alpha)),
    reference=lambda x, alpha: x if x > 0 else alpha * mp.expm1(x / alpha),
    bounds=(-1.0, inf), smoothness="C1", kinks=(0.0,),
    settings=({"alpha": 0.5}, {"alpha": 2.0}),
    pros=("C1 for every alpha, unlike ELU.",),
    cons=("Same cost as ELU.",),
    references=("Barron (2017), Continuously differentiable exponential linear units.",),
)

SELU = Activation(
    name="selu", title="Scaled ELU (self-normalising)", family="exponential", class_name="SELU",
    init="lecun",  # the fixed point of mean 0, variance 1 is proved for LeCun-normal weights
    dropout="alpha",  # Klambauer et al.'s AlphaDropout keeps that fixed point; ordinary dropout does not
    dprecision=(1e-15, 0.0),  # measured: tests/test_catalog_verify.py
    formula=r"f(x) = \lambda \begin{cases} x & x > 0 \\ \alpha (e^{x} - 1) & x \le 0 \end{cases},"
            r"\ \alpha \approx 1.6733,\ \lambda \approx 1.0507",
    dformula=r"f'(x) = \lambda \begin{cases} 1 & x > 0 \\ \alpha e^{x} & x \le 0 \end{cases}",
    description="An ELU scaled by constants chosen so that, in a plain dense "
    "network with LeCun-normal weights, zero-mean unit-variance inputs map to "
    "zero-mean unit-variance outputs: mean and variance are pulled to a fixed "
    "point layer after layer without batch normalisation. Use AlphaDropout, "
    "not ordinary dropout, to keep that property.",
    forward=lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(x)),
    native=F.selu, native_range=1.0, fused=(),
    derivative=lambda x: SELU_SCALE * torch.where(x > 0, torch.ones_like(x), SELU_ALPHA * torch.exp(x)),
    reference=lambda x: mp.mpf("1.0507009873554804934193349852946") * (
        x if x > 0 else mp.mpf("1.6732632423543772848170429916717") * mp.expm1(x)),
    bounds=(-SELU_SCALE * SELU_ALPHA, inf), smoothness="C0", kinks=(0.0,),
    pros=("Self-normalising with LeCun-normal init: deep MLPs train without BatchNorm.",),
    cons=("The guarantee needs LeCun-normal init, AlphaDropout and plain dense layers.",
          "Derivative jumps at 0 (1.0507 to 1.7581)."),
    references=("Klambauer, Unterthiner, Mayr, Hochreiter (2017), Self-normalizing neural networks.",),
)

# ---------------------------------------------------------------------------
# Gated: x times a soft gate
# ---------------------------------------------------------------------------
def _gelu(x):
    # Phi(x) = erfc(-x/sqrt 2)/2 keeps full relative precision in the left
    # tail, where 1 + erf(x/sqrt 2) cancels to 0.
    # At -inf the gate is exactly 0; -max * 0 is the limit 0, where -inf * 0 is NaN.
    return _no_neg_inf(x) * (0.5 * torch.erfc(-x * INV_SQRT_2))


def _gelu_d(x):
    xc = torch.clamp(x, -_GATE_CLAMP, _GATE_CLAMP)
    return 0.5 * torch.erfc(-x * INV_SQRT_2) + xc * INV_SQRT_2PI * torch.exp(-0.5 * xc * xc)


GELU = Activation(
    name="gelu", title="GELU (exact, erf)", family="gated", class_name="GELU",
    precision=(5e-16, 5e-16), dprecision=(1e-15, 6e-17),  # measured: tests/test_catalog_verify.py
    aliases=("gelu_erf", "gelu_exact"),
    formula=r"f(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \operatorname{erf}\frac{x}{\sqrt{2}}\right)",
    dformula=r"f'(x) = \Phi(x) + x\,\varphi(x),\ \varphi(x) = \frac{e^{-x^2/2}}{\sqrt{2\pi}}",
    description="The input weighted by the probability that a standard normal "
    "variable is below it. Smooth, non-monotonic with a shallow minimum near "
    "x = -0.75, and the default in Transformers. The erf argument is x divided "
    "by sqrt(2) (seed 003 misprints it).",
    forward=_gelu,
    native=F.gelu, native_range=0.25, fused=(),
    derivative=_gelu_d,
    # Beyond |x| = 1e6, Phi(x) is within exp(-5e11) of 0 or 1 (mpmath's ncdf
    # cannot take arguments near 1e308).
    reference=lambda x: x * mp.ncdf(x) if abs(x) < 1e6 else (x if x > 0 else 0 * x),
    monotonic=False, bounds=(-0.17, inf),
    pros=("Smooth; strong results in Transformers and vision models.",),
    cons=("erf is costlier than a max; non-monotonic.",),
    references=("Hendrycks & Gimpel (2016), Gaussian error linear units (GELUs).",),
    notes=("PyTorch's F.gelu defaults to this exact form; JAX's jax.nn.gelu defaults to the tanh "
           "approximation (approximate=True); Keras' gelu defaults to exact.",),
)


def _gelu_tanh(x):
    # (1 + tanh u)/2 = sigmoid(2u): the same function without the cancellation
    # of 1 + tanh u in the left tail.
    xc = torch.clamp(x, -_GATE_CLAMP, _GATE_CLAMP)
    return _no_neg_inf(x) * torch.sigmoid(2 * SQRT_2_OVER_PI * (xc + GELU_TANH_C * xc ** 3))


def _gelu_tanh_d(x):
    xc = torch.clamp(x, -_GATE_CLAMP, _GATE_CLAMP)
    u2 = 2 * SQRT_2_OVER_PI * (xc + GELU_TANH_C * xc ** 3)
    s, sm = torch.sigmoid(u2), torch.sigmoid(-u2)  # (1 + t)/2 and (1 - t)/2
    return s + 2 * xc * s * sm * SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_C * xc * xc)


def _half_sqrt_max(dtype: torch.dtype) -> float:
    """Half the square root of the largest value of the dtype PyTorch computes ``dtype`` in."""
    return 0.5 * math.sqrt(torch.finfo(torch.promote_types(dtype, torch.float32)).max)


GELU_TANH = Activation(
    name="gelu_tanh", title="GELU, tanh approximation", family="gated", class_name="GELUTanh",
    precision=(5e-16, 7e-16), dprecision=(1e-15, 1.3e-16),  # measured: tests/test_catalog_verify.py
    aliases=("gelu_approx", "gelu_new", "approximate_gelu"),
    formula=r"f(x) = \frac{x}{2}\left(1 + \tanh\!\left[\sqrt{2/\pi}\,(x + 0.044715 x^3)\right]\right)",
    dformula=r"f'(x) = \tfrac12(1 + t) + \tfrac{x}{2}(1 - t^2)\sqrt{2/\pi}\,(1 + 0.134145 x^2),"
             r"\ t = \tanh\!\left[\sqrt{2/\pi}\,(x + 0.044715 x^3)\right]",
    description="The tanh approximation to exact GELU used by BERT and GPT-2; it "
    "differs from the exact form by less than 5e-4 everywhere.",
    forward=_gelu_tanh,
    # PyTorch's gradient squares x (in float32 for the half types): NaN beyond sqrt(max) (1.8e19 in float32).
    native=lambda x: F.gelu(x, approximate="tanh"), native_range=_half_sqrt_max, fused=(),
    derivative=_gelu_tanh_d,
    # x (1 + tanh u)/2 written as x sigmoid(2u), which does not cancel at 50 digits.
    reference=lambda x: x * _mp_sig(2 * mp.sqrt(2 / mp.pi) * (x + mp.mpf("0.044715") * x ** 3)),
    monotonic=False, bounds=(-0.17, inf),
    pros=("Matches checkpoints trained with it (BERT, GPT-2).",),
    cons=("Only an approximation; no faster than exact GELU on modern hardware.",),
    references=("Hendrycks & Gimpel (2016), Gaussian error linear units (GELUs).",),
)

GELU_SIGMOID = Activation(
    name="gelu_sigmoid", title="GELU, sigmoid approximation", family="gated", class_name="GELUSigmoid",
    precision=(1e-15, 5e-20), dprecision=(1e-15, 5e-17),  # measured: tests/test_catalog_verify.py
    aliases=("quick_gelu", "quickgelu"),
    formula=r"f(x) = x\,\sigma(1.702\,x)",
    dformula=r"f'(x) = \sigma(kx) + kx\,\sigma(kx)(1 - \sigma(kx)),\ k = 1.702",
    description="GELU approximated by a sigmoid gate, x sigma(1.702x): the "
    "cheapest GELU (used by CLIP as 'QuickGELU'), within about 0.02 of the exact form. "
    "It is SiLU with beta = 1.702.",
    forward=lambda x: _silu(x, GELU_SIGMOID_K),
    derivative=lambda x: _silu_d(x, GELU_SIGMOID_K),
    reference=lambda x: x * _mp_sig(mp.mpf("1.702") * x),
    monotonic=False, bounds=(-0.1636, inf),
    pros=("One sigmoid: cheaper than erf or tanh.",),
    cons=("Least accurate of the three GELU forms.",),
    references=("Hendrycks & Gimpel (2016), Gaussian error linear units (GELUs), section 2.",),
)


def _silu(x, beta):
    xf = _no_neg_inf(x)
    return xf * torch.sigmoid(xf if _is_one(beta) else beta * xf)


def _silu_d(x, beta):
    # 1 - sigmoid(z) = sigmoid(-z) keeps precision in the right tail.
    bx = x if _is_one(beta) else beta * x
    z = torch.clamp(bx, -_SIGMOID_CLAMP, _SIGMOID_CLAMP)
    return torch.sigmoid(bx) * (1 + z * torch.sigmoid(-z))


SILU = Activation(
    name="silu", title="SiLU / Swish", family="gated", class_name="SiLU",
    dprecision=(1e-15, 6e-17),  # measured: tests/test_catalog_verify.py
    aliases=("swish", "swish1"),
    params=(Param("beta", 1.0, "gate sharpness; beta -> inf approaches ReLU, beta = 0 gives x/2",
                  low=0.0, can_learn=True),),
    formula=r"f(x) = x\,\sigma(\beta x)",
    dformula=r"f'(x) = \sigma(\beta x)\left(1 + \beta x\,(1 - \sigma(\beta x))\right)",
    description="The input gated by its own sigmoid. With beta = 1 it is the "
    "SiLU; Swish lets beta be fixed or learned. Smooth, non-monotonic with a "
    "minimum of about -0.278 at x = -1.278 (beta = 1), unbounded above.",
    forward=_silu, derivative=_silu_d,
    native=lambda x, beta: F.silu(x), native_range=1.0, fused=(),
    native_when=lambda p: p["beta"] == 1.0,
    reference=lambda x, beta: x * _mp_sig(beta * x),
    monotonic=False, bounds=(-0.2785, inf),
    settings=({"beta": 0.5}, {"beta": 2.0}),
    pros=("Smooth, self-gated; often beats ReLU in deep models.",),
    cons=("Costlier than ReLU (a sigmoid per element).",),
    references=("Elfwing, Uchibe, Doya (2018), Sigmoid-weighted linear units.",
                "Ramachandran, Zoph, Le (2017), Searching for activation functions."),
    notes=("bounds are for beta = 1.",),
)

HARDSWISH = Activation(
    name="hardswish", title="Hard-Swish", family="gated", class_name="HardSwish",
    aliases=("hard_swish", "h_swish", "hswish"),
    formula=r"f(x) = x\,\frac{\operatorname{ReLU6}(x + 3)}{6}",
    dformula=r"f'(x) = \begin{cases} 0 & x \le -3 \\ \frac{2x + 3}{6} & -3 < x < 3 \\ 1 & x \ge 3 \end{cases}",
    description="Swish with the sigmoid gate replaced by the piecewise-linear "
    "hard sigmoid: nearly the same shape, no exponentials. Introduced for "
    "MobileNetV3.",
    # (x + 3)/6 is exact near -3, and x * gate does not overflow where x * (x + 3) would.
    forward=lambda x: _no_neg_inf(x) * torch.clamp((x + 3) / 6, 0, 1), native=F.hardswish, native_range=0.125, fused=(),
    derivative=lambda x: _keep_nan(x, torch.where(
        x <= -3, torch.zeros_like(x), torch.where(x >= 3, torch.ones_like(x), (2 * x + 3) / 6))),
    reference=lambda x: x * min(max(mp.mpf(0), x + 3), mp.mpf(6)) / 6,
    monotonic=False, bounds=(-0.375, inf), smoothness="C0", kinks=(-3.0, 3.0),
    pros=("Swish-like accuracy at ReLU-like cost; quantisation friendly.",),
    cons=("Zero gradient below -3; derivative jumps at -3 (0 to -0.5) and at 3.",),
    references=("Howard et al. (2019), Searching for MobileNetV3.",),
    notes=("At the kinks f'(-3) = 0 and f'(3) = 1 (the outer pieces), as PyTorch's backward gives; "
           "(2x+3)/6 holds on the open interval (-3, 3).",
           "PyTorch's native op computes x * (x + 3) / 6 and so overflows to inf for x > 3e307 "
           "(float64) and x > 5.7e37 (float32, bfloat16); float16 is computed in float32 and is "
           "fine. See docs/precision.md.",),
)


def _mish_d(x):
    sp = _softplus(x, 1.0, None)
    xc = torch.clamp(x, -_SIGMOID_CLAMP, _SIGMOID_CLAMP)  # beyond it the second term is exactly 0
    return torch.tanh(sp) + xc * _tanh_d(sp) * torch.sigmoid(xc)


MISH = Activation(
    name="mish", title="Mish", family="gated", class_name="Mish",
    precision=(1e-15, 0.0), dprecision=(1e-15, 2.5e-16),  # measured: tests/test_catalog_verify.py
    formula=r"f(x) = x \tanh(\operatorname{softplus}(x))",
    dformula=r"f'(x) = \tanh(s) + x\,\operatorname{sech}^2(s)\,\sigma(x),\ s = \operatorname{softplus}(x)",
    description="Self-gating by tanh of softplus: smooth, non-monotonic with a "
    "minimum of about -0.309 near x = -1.19, unbounded above and bounded below.",
    forward=lambda x: _no_neg_inf(x) * torch.tanh(_softplus(x, 1.0, None)), native=F.mish, native_range=1.0, fused=(),
    derivative=_mish_d,
    reference=lambda x: x * mp.tanh(_mp_softplus(x)),
    monotonic=False, bounds=(-0.3088, inf),
    pros=("Smooth with a non-zero gradient for negative inputs; strong results in YOLOv4.",),
    cons=("Three transcendental functions: among the costliest.",),
    references=("Misra (2019), Mish: A self regularized non-monotonic activation function.",),
)

SQUAREPLUS = Activation(
    name="squareplus", title="Squareplus", family="rectifier", class_name="Squareplus",
    dprecision=(1e-15, 0.0),  # measured: tests/test_catalog_verify.py
    params=(Param("b", 4.0, "curvature near 0; b = 0 gives ReLU", low=0.0),),
    formula=r"f(x) = \frac{x + \sqrt{x^2 + b}}{2}",
    dformula=r"f'(x) = \frac{1}{2}\left(1 + \frac{x}{\sqrt{x^2 + b}}\right)",
    description="A softplus-like curve built from a square root instead of exp "
    "and log. Computed as b / (2(sqrt(x^2+b) - x)) for negative x so that the "
    "small left tail keeps full precision.",
    forward=lambda x, b: _squareplus(x, b),
    derivative=lambda x, b: _squareplus_d(x, b),
    reference=lambda x, b: (x + mp.sqrt(x * x + b)) / 2,
    bounds=(0.0, inf),
    settings=({"b": 1.0},),
    pros=("Softplus shape without transcendental functions.",),
    cons=("Not zero-centred; less studied.",),
    references=("Barron (2021), Squareplus: A softplus-like algebraic rectifier.",),
)


def _squareplus(x, b):
    # (x + r)/2 = max(x, 0) + b / (2 (r + |x|)), r = sqrt(x^2 + b): on either side one sum of positive terms
    # (x + r loses everything for very negative x, and (x + r)/2 overflows for x > 9e307), branch-free.
    if b == 0:
        return torch.clamp_min(x, 0)  # ReLU (the formula's 0/0 at x = 0)
    a = x.abs()
    return torch.clamp_min(x, 0) + b / (2 * (torch.hypot(a, torch.full_like(x, math.sqrt(b))) + a))


def _squareplus_d(x, b):
    # (1 + x/r)/2 = [x > 0] + 1/2 [x = 0] - sign(x) b / (2 r (r + |x|)), the same sums of positive terms (1 + x/r
    # cancels for very negative x); at +-inf the fraction is b / inf = 0, never inf/inf.
    if b == 0:
        return _keep_nan(x, _above(x, 0))  # ReLU's derivative (0 at 0)
    a = x.abs()
    r = torch.hypot(a, torch.full_like(x, math.sqrt(b)))
    s = torch.sign(x)
    return (1 + s) / 2 - s * b / (2 * r * (r + a))


SNAKE = Activation(
    name="snake", title="Snake", family="periodic", class_name="Snake",
    precision=(1e-15, 0.0), dprecision=(5e-16, 4e-16),  # measured: tests/test_catalog_verify.py
    params=(Param("alpha", 1.0, "frequency of the periodic part", low=0.0, open_low=True),),
    formula=r"f(x) = x + \frac{\sin^2(\alpha x)}{\alpha}",
    dformula=r"f'(x) = 1 + \sin(2\alpha x)",
    description="The identity plus a periodic ripple: monotonic, with a learnable-"
    "frequency bias towards periodic functions, so networks using it extrapolate "
    "periodic data better than with ReLU or tanh.",
    forward=lambda x, alpha: x + torch.sin(alpha * _finite(x)) ** 2 / alpha,
    # 2 sin cos rather than sin(2 alpha x): 2 alpha x overflows for |x| near the dtype's max.
    derivative=lambda x, alpha: 1 + 2 * torch.sin(alpha * x) * torch.cos(alpha * x),
    reference=lambda x, alpha: x + mp.sin(alpha * x) ** 2 / alpha,
    settings=({"alpha": 0.5},),
    pros=("Captures periodic structure; monotonic.",),
    cons=("Derivative touches 0 periodically.",),
    references=("Liu, Ziyin, Ueda (2020), Neural networks fail to learn periodic functions and how to fix it.",),
)

# ---------------------------------------------------------------------------
# Clipping and shrinkage
# ---------------------------------------------------------------------------
HARDTANH = Activation(
    name="hardtanh", title="Hard tanh", family="sigmoidal", class_name="Hardtanh",
    aliases=("hard_tanh",),
    params=(Param("min_val", -1.0, "lower clip value"), Param("max_val", 1.0, "upper clip value")),
    formula=r"f(x) = \min(\max(x, m), M)",
    dformula=r"f'(x) = \begin{cases} 1 & m < x < M \\ 0 & \text{otherwise} \end{cases}",
    description="The identity clipped to [min_val, max_val]: a piecewise-linear "
    "tanh. ReLU6 is hardtanh with limits 0 and 6.",
    check=lambda p: (f"parameter 'min_val' = {p['min_val']} must be below 'max_val' = {p['max_val']}"
                     if p["min_val"] >= p["max_val"] else None),
    forward=lambda x, min_val, max_val: torch.clamp(x, min_val, max_val),
    native=lambda x, min_val, max_val: F.hardtanh(x, min_val, max_val), native_range=1.0,
    fused=("min_val", "max_val"),
    derivative=lambda x, min_val, max_val: _keep_nan(x, _mask((x > min_val) & (x < max_val), x)),
    reference=lambda x, min_val, max_val: min(max(x, mp.mpf(min_val)), mp.mpf(max_val)),
    bounds=(-1.0, 1.0), smoothness="C0", kinks=lambda p: (p["min_val"], p["max_val"]),
    pros=("Cheap, bounded, zero-centred.",),
    cons=("Zero gradient outside the clip range.",),
    references=("Collobert (2004), Large scale machine learning (thesis).",),
)

TANHSHRINK = Activation(
    name="tanhshrink", title="Tanhshrink", family="shrinkage", class_name="Tanhshrink",
    precision=(1e-15, 5e-17),  # measured: tests/test_catalog_verify.py
    formula=r"f(x) = x - \tanh x", dformula=r"f'(x) = \tanh^2 x",
    description="What is left of x after removing its tanh: flat (cubic) near "
    "zero, parallel to the identity far from it.",
    forward=lambda x: x - torch.tanh(x), native=F.tanhshrink,
    derivative=lambda x: torch.tanh(x) ** 2,
    reference=lambda x: x - mp.tanh(x),
    pros=("Suppresses small inputs smoothly.",),
    cons=("Near-zero gradient around 0; rarely used as a hidden activation.",),
    references=("Used in sparse coding; available in Torch7 and PyTorch.",),
)

SOFTSHRINK = Activation(
    name="softshrink", title="Soft shrinkage", family="shrinkage", class_name="Softshrink",
    params=(Param("lambd", 0.5, "half-width of the zero band", low=0.0),),
    formula=r"f(x) = \begin{cases} x - \lambda & x > \lambda \\ x + \lambda & x < -\lambda \\ 0 & \text{otherwise} \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
    description="The soft-thresholding operator of sparse coding (the proximal "
    "map of the L1 norm): zero inside [-lambda, lambda], shifted identity outside.",
    forward=lambda x, lambd: _keep_nan(x, torch.where(x > lambd, x - lambd, torch.where(
        x < -lambd, x + lambd, torch.zeros_like(x)))),
    native=lambda x, lambd: F.softshrink(x, lambd), native_range=1.0, fused=("lambd",),
    derivative=lambda x, lambd: _keep_nan(x, _mask(x.abs() > lambd, x)),
    reference=lambda x, lambd: x - lambd if x > lambd else (x + lambd if x < -lambd else mp.mpf(0)),
    smoothness="C0", kinks=lambda p: (-p["lambd"], p["lambd"]),
    pros=("Produces exact zeros: sparse codes.",),
    cons=("Dead band around 0.",),
    references=("Donoho (1995), De-noising by soft-thresholding.",),
)

HARDSHRINK = Activation(
    name="hardshrink", title="Hard shrinkage", family="shrinkage", class_name="Hardshrink",
    params=(Param("lambd", 0.5, "half-width of the zero band", low=0.0),),
    formula=r"f(x) = \begin{cases} x & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 & |x| > \lambda \\ 0 & \text{otherwise} \end{cases}",
    description="Hard thresholding: inputs inside [-lambda, lambda] become zero, "
    "others pass unchanged. Discontinuous at the band edges.",
    forward=lambda x, lambd: _keep_nan(x, torch.where(x.abs() > lambd, x, torch.zeros_like(x))),
    native=lambda x, lambd: F.hardshrink(x, lambd), native_range=1.0, fused=("lambd",),
    derivative=lambda x, lambd: _keep_nan(x, _mask(x.abs() > lambd, x)),
    reference=lambda x, lambd: x if abs(x) > lambd else mp.mpf(0),
    monotonic=True, smoothness="discontinuous", kinks=lambda p: (-p["lambd"], p["lambd"]),
    pros=("Keeps large values exactly.",),
    cons=("Discontinuous; dead band around 0.",),
    references=("Donoho & Johnstone (1994), Ideal spatial adaptation by wavelet shrinkage.",),
)

# ---------------------------------------------------------------------------
# Vector-valued
# ---------------------------------------------------------------------------
def _softmax(x, temperature, dim):
    return torch.softmax(x / temperature, dim=dim)


def _softmax_diag(x, temperature, dim):
    """Diagonal of the Jacobian, dy_i/dx_i = y_i (1 - y_i) / T."""
    y = _softmax(x, temperature, dim)
    return y * (1 - y) / temperature


def _softmax_jvp(x, v, temperature, dim):
    """J v = y * (v - <y, v>) / T; J is symmetric, so this is also v^T J."""
    y = _softmax(x, temperature, dim)
    return y * (v - (y * v).sum(dim=dim, keepdim=True)) / temperature


def _softmax_jacobian(x, temperature, dim):
    """J = (diag(y) - y y^T) / T, with ``dim`` moved last: shape (..., n, n)."""
    y = torch.movedim(_softmax(x, temperature, dim), dim, -1)
    return (torch.diag_embed(y) - y.unsqueeze(-1) * y.unsqueeze(-2)) / temperature


SOFTMAX = Activation(
    name="softmax", title="Softmax", family="vector", class_name="Softmax",
    params=(
        Param("temperature", 1.0, "divides the logits; large T flattens, small T sharpens",
              low=0.0, open_low=True),
        Param("dim", -1, "the dimension that is normalised", kind=int),
    ),
    formula=r"f(x)_i = \frac{e^{x_i / T}}{\sum_j e^{x_j / T}}",
    dformula=r"\frac{\partial f_i}{\partial x_j} = \frac{1}{T}\, f_i\,(\delta_{ij} - f_j)",
    description="Turns a vector of scores into a probability distribution. It "
    "is a function of the whole vector, so its derivative is a Jacobian, not a "
    "number per element; use .jacobian(x) or .jvp(x, v). The temperature T "
    "divides the scores first. Computed stably by subtracting the maximum.",
    forward=_softmax, derivative=_softmax_diag, jvp=_softmax_jvp, jacobian=_softmax_jacobian,
    # x / 1 is x to the bit: at the default temperature the division's extra pass over x is skipped.
    native=lambda x, temperature, dim: F.softmax(x if temperature == 1 else x / temperature, dim=dim),
    reference=lambda xs, temperature, dim: [e / mp.fsum(mp.exp(v / temperature) for v in xs)
                                            for e in (mp.exp(v / temperature) for v in xs)],
    bounds=(0.0, 1.0), vector=True, monotonic=True,
    settings=({"temperature": 0.5}, {"temperature": 4.0}),
    pros=("Output is a probability distribution; pairs with cross-entropy.",),
    cons=("Only for outputs: as a hidden activation it couples all units and saturates.",),
    references=("Bridle (1990), Probabilistic interpretation of feedforward classification network outputs.",),
    notes=(".derivative(x) gives the diagonal of the Jacobian; .jacobian(x) the full matrix; "
           ".jvp(x, v) the product with a vector. Properties are for the first component of a "
           "2-vector (x, 0), i.e. sigma(x/T).",),
)

# ---------------------------------------------------------------------------
# The frameworks' remainder: PyTorch, Keras 3 / JAX, timm
# ---------------------------------------------------------------------------
THRESHOLD = Activation(
    name="threshold", title="Threshold", family="threshold", class_name="Threshold",
    params=(
        Param("threshold", 1.0, "inputs above it pass unchanged; PyTorch and Keras have no default"),
        Param("value", 0.0, "what every input at or below the threshold becomes"),
    ),
    formula=r"f(x) = \begin{cases} x & x > \theta \\ v & x \le \theta \end{cases}",
    dformula=r"f'(x) = \begin{cases} 1 & x > \theta \\ 0 & x < \theta \end{cases}",
    description="PyTorch's nn.Threshold and Keras' threshold: the input itself "
    "above the threshold theta, a fixed value v at or below it. With theta = v = 0 "
    "it is ReLU; otherwise it jumps at theta (from v to theta). Not the binary "
    "step, which outputs 0 or 1.",
    forward=lambda x, threshold, value: _keep_nan(x, torch.where(x > threshold, x, value)),
    native=lambda x, threshold, value: F.threshold(x, threshold, value),
    derivative=lambda x, threshold, value: _keep_nan(x, _mask(x > threshold, x)),
    reference=lambda x, threshold, value: x if x > threshold else mp.mpf(value),
    bounds=(0.0, inf), smoothness="discontinuous", kinks=lambda p: (p["threshold"],),
    settings=({"threshold": 0.0}, {"threshold": -1.0, "value": -3.0}),
    pros=("Cheap; sets a floor of exactly v under every small input.",),
    cons=("Zero gradient below the threshold; discontinuous unless v equals the threshold.",),
    references=("PyTorch, torch.nn.Threshold; Keras 3, keras.activations.threshold.",),
    notes=("PyTorch and Keras require both arguments; actlab's defaults (threshold 1, value 0) only "
           "make the jump visible. f'(theta) = 0, as PyTorch's backward gives.",
           "Monotonic (as declared) only when value <= threshold; PyTorch's own example, "
           "Threshold(0.1, 20), is not.",),
)


def _mp_exp(x):
    # mpmath cannot evaluate exp(x) for |x| near 1e308. Beyond |x| = 1e6 every float rounds
    # exp(x) to inf or 0 anyway; there the reference continues monotonically, exp(+-1e6) (|x|/1e6)^(+-1),
    # so that the tests still see an overflow (or underflow) of both the value and the slope.
    if abs(x) <= 1e6:
        return mp.exp(x)
    s = mp.sign(x)
    return mp.exp(s * 10 ** 6) * (abs(x) / 10 ** 6) ** s


EXPONENTIAL = Activation(
    name="exponential", title="Exponential", family="exponential", class_name="Exponential",
    aliases=("exp",),
    formula=r"f(x) = e^{x}", dformula=r"f'(x) = e^{x}",
    description="The exponential itself, Keras' 'exponential' activation: "
    "positive, equal to its own derivative, and overflowing float16 above "
    "x = 11.1 and float32 above x = 88.7. Used for positive outputs (rates, "
    "scales) rather than in hidden layers.",
    forward=torch.exp, native=torch.exp, derivative=torch.exp, reference=_mp_exp,
    bounds=(0.0, inf), init="glorot",
    pros=("Strictly positive output with no kink: a natural link for rates and variances.",),
    cons=("Explodes for large inputs (overflow in float16 beyond 11.1); vanishes for negative ones.",),
    references=("Keras 3, keras.activations.exponential.",),
)


def _sparse_plus(x):
    # max(x, q) with q the parabola on x clipped to [-1, 1]: q - x = (x - 1)^2 / 4 >= 0 inside, q = 0 >= x
    # below -1, q = 1 <= x above 1, so the maximum is each piece exactly (x itself above 1); maximum passes
    # NaN on. Branch-free: PyTorch's where and comparisons are not vectorised on the CPU (_above).
    return torch.maximum(x, (torch.clamp(x, -1, 1) + 1) ** 2 / 4)


def _sparse_sigmoid(x):
    return torch.clamp((x + 1) / 2, 0, 1)  # clamp passes NaN on; exactly 0 and 1 outside [-1, 1]


def _sparse_sigmoid_d(x):
    return _keep_nan(x, _inside(x, -1.0, 1.0) / 2)


SPARSE_PLUS = Activation(
    name="sparse_plus", title="Sparse plus", family="rectifier", class_name="SparsePlus",
    formula=r"f(x) = \begin{cases} 0 & x \le -1 \\ \frac{(x + 1)^2}{4} & -1 < x < 1 \\ x & x \ge 1 \end{cases}",
    dformula=r"f'(x) = \begin{cases} 0 & x \le -1 \\ \frac{x + 1}{2} & -1 < x < 1 \\ 1 & x \ge 1 \end{cases}",
    description="A softplus made of a parabola between two straight pieces: "
    "exactly 0 below -1 (sparse, like ReLU), exactly x above 1, and continuously "
    "differentiable in between. Its derivative is the sparse sigmoid. JAX's and "
    "Keras 3's sparse_plus.",
    forward=_sparse_plus, derivative=lambda x: torch.clamp((x + 1) / 2, 0, 1),
    reference=lambda x: mp.mpf(0) if x <= -1 else (x if x >= 1 else (x + 1) ** 2 / 4),
    bounds=(0.0, inf), smoothness="C1", kinks=(-1.0, 1.0),
    pros=("Smooth like softplus near 0, exact zeros and exact identity outside [-1, 1]; no exp.",),
    cons=("Dead for x <= -1.",),
    references=("JAX, jax.nn.sparse_plus; Keras 3, keras.activations.sparse_plus.",),
)


SPARSE_SIGMOID = Activation(
    name="sparse_sigmoid", title="Sparse sigmoid", family="sigmoidal", class_name="SparseSigmoid",
    formula=r"f(x) = \min\!\left(\max\!\left(\tfrac{x + 1}{2}, 0\right), 1\right)",
    dformula=r"f'(x) = \begin{cases} 1/2 & -1 < x < 1 \\ 0 & \text{otherwise} \end{cases}",
    description="A ramp from 0 at x = -1 to 1 at x = 1: a sigmoid with exact 0 "
    "and 1 outside [-1, 1], the derivative of sparse plus, and what sparsemax "
    "gives for two inputs (x, 0). JAX's and Keras 3's sparse_sigmoid.",
    forward=_sparse_sigmoid, derivative=_sparse_sigmoid_d,
    reference=lambda x: min(max((x + 1) / 2, mp.mpf(0)), mp.mpf(1)),
    bounds=(0.0, 1.0), smoothness="C0", kinks=(-1.0, 1.0),
    pros=("Exact 0 and 1 outside [-1, 1]; no exp.",),
    cons=("Zero gradient outside (-1, 1).",),
    references=("JAX, jax.nn.sparse_sigmoid; Keras 3, keras.activations.sparse_sigmoid.",
                "Martins & Astudillo (2016), From softmax to sparsemax."),
    notes=("f'(-1) = f'(1) = 0 (the outer pieces), as for hardsigmoid.",),
)


def _hard_mish(x):
    xf = _no_neg_inf(x)
    return 0.5 * xf * torch.clamp(xf + 2, 0, 2)


def _hard_mish_d(x):
    # x + 1 clipped to [-1, 1] (1 from 0 on), times the step [x >= -2] = [-x <= 2]; NaN stays NaN (the clamp's).
    return torch.clamp(x + 1, -1, 1) * _step_le(-x, 2.0)


HARD_MISH = Activation(
    name="hard_mish", title="Hard Mish", family="gated", class_name="HardMish",
    formula=r"f(x) = \tfrac12\,x\,\min(\max(x + 2, 0), 2)",
    dformula=r"f'(x) = \begin{cases} 0 & x < -2 \\ x + 1 & -2 \le x \le 0 \\ 1 & x > 0 \end{cases}",
    description="timm's piecewise-polynomial Mish: 0 below -2, the parabola "
    "x(x + 2)/2 between -2 and 0 (minimum -1/2 at x = -1), the identity above. "
    "Like Hard-Swish it needs no exponentials.",
    forward=_hard_mish, derivative=_hard_mish_d,
    reference=lambda x: x * min(max(x + 2, mp.mpf(0)), mp.mpf(2)) / 2,
    monotonic=False, bounds=(-0.5, inf), smoothness="C0", kinks=(-2.0, 0.0),
    pros=("Mish-like shape at ReLU-like cost.",),
    cons=("Derivative jumps at -2 (0 to -1); dead below -2.",),
    references=("Ross Wightman, timm (pytorch-image-models), timm.layers.activations.hard_mish.",
                "Misra (2019), Mish: A self regularized non-monotonic activation function."),
    notes=("f'(-2) = -1 and f'(0) = 1, as timm's backward (autograd of its formula) gives.",),
)


# ---------------------------------------------------------------------------
# Learnable families: the shape itself is trained
# ---------------------------------------------------------------------------
def _coef(w, x):
    """A coefficient (number or learned tensor) broadcast per channel and cast to x's dtype."""
    w = _channel(w, x)
    return w.to(x.dtype) if torch.is_tensor(w) else w


def _poly(coefs, z):
    """c0 + c1 z + c2 z^2 + ... by Horner's rule."""
    out = coefs[-1] * torch.ones_like(z)
    for c in reversed(coefs[:-1]):
        out = out * z + c
    return out


def _apl(x, a1, b1, a2, b2):
    a1, b1, a2, b2 = (_coef(c, x) for c in (a1, b1, a2, b2))
    xf = _finite(x)  # b - x stays finite; the limits at +-inf are set below
    # relu rather than clamp_min: its backward gives 0 at the hinge, as the derivative does.
    y = torch.relu(xf) + a1 * torch.relu(b1 - xf) + a2 * torch.relu(b2 - xf)
    # Below every hinge f(x) = -(a1 + a2) x + a1 b1 + a2 b2: that slope gives the limit at -inf.
    slope = -(a1 + a2)
    left = torch.where(torch.as_tensor(slope != 0), slope * x, a1 * b1 + a2 * b2)
    return torch.where(x == -inf, left, torch.where(x == inf, x, y))


def _apl_d(x, a1, b1, a2, b2):
    a1, b1, a2, b2 = (_coef(c, x) for c in (a1, b1, a2, b2))
    return _keep_nan(x, _mask(x > 0, x) - a1 * _mask(x < b1, x) - a2 * _mask(x < b2, x))


def _apl_kinks(p):
    """Where the slope changes: by 1 at 0 (the ReLU) and by a_s at b_s; hinges that cancel are no kink."""
    change = {0.0: 1.0}
    for a, b in ((p["a1"], p["b1"]), (p["a2"], p["b2"])):
        change[float(b)] = change.get(float(b), 0.0) + float(a)
    return tuple(sorted(k for k, c in change.items() if c != 0))


def _learned(name, default, doc):
    return Param(name, default, doc, always_learned=True)


_CHANNELS = Param("num_parameters", 1, "1 for one set of coefficients shared by the layer, or the number "
                  "of channels (dim 1) for one set per channel", low=1, kind=int, passed=False)

APL = Activation(
    name="apl", title="Adaptive piecewise linear unit", family="rectifier", class_name="APL",
    aliases=("adaptive_piecewise_linear",),
    params=(
        _learned("a1", -0.25, "initial slope weight of the first hinge"),
        _learned("b1", 0.0, "initial position of the first hinge"),
        _learned("a2", 0.5, "initial slope weight of the second hinge"),
        _learned("b2", -1.0, "initial position of the second hinge"),
        _CHANNELS,
    ),
    formula=r"f(x) = \max(0, x) + \sum_{s=1}^{2} a_s \max(0, -x + b_s),\ a_s, b_s \text{ learned}",
    dformula=r"f'(x) = [x > 0] - \sum_{s=1}^{2} a_s\,[x < b_s]",
    description="ReLU plus a learned sum of hinges: each hinge s adds slope "
    "-a_s to the left of its learned position b_s, so the unit learns a "
    "piecewise-linear shape with S + 1 kinks (here S = 2). The defaults start "
    "as PReLU's init (slope 0.25 left of 0) with a second hinge at -1 that turns "
    "the far left upwards; Agostinelli et al. learn one set per unit.",
    forward=_apl, derivative=_apl_d,
    reference=lambda x, a1, b1, a2, b2: (max(mp.mpf(0), x) + a1 * max(mp.mpf(0), b1 - x)
                                         + a2 * max(mp.mpf(0), b2 - x)),
    monotonic=False, bounds=(-0.25, inf), smoothness="C0", kinks=_apl_kinks,
    # Learned parameters are stored in float32: settings use float32 numbers, so that the
    # module and the float64 reference compute the same function.
    settings=({"a2": 0.0}, {"a1": 0.375, "b1": 1.0, "a2": -0.25, "b2": -2.0}),
    pros=("Learns its own piecewise-linear shape at ReLU-like cost.",),
    cons=("2S extra parameters per unit or channel; weight decay on them changes the shape.",),
    references=("Agostinelli, Hoffman, Sadowski, Baldi (2015), Learning activation functions to improve "
                "deep neural networks (ICLR workshop; arXiv 1412.6830).",),
    notes=("The paper uses S = 1 to 10 hinges per unit; actlab fixes S = 2.",
           "Declared bounds, monotonicity and kinks are for the defaults; kinks move with b_s.",),
)

# Default coefficients: the safe PAU fitted to leaky ReLU (slope 0.01) on [-3, 3] by least squares,
# as the paper fits its initialisations (6001 points; Levenberg-Marquardt from the paper's
# 'pade_optimized_leakyrelu' coefficients and 40 random starts, the best kept), then rounded to
# float32, the dtype the learned parameters are stored in. Largest error on [-3, 3]: 0.0298 (the
# paper's own coefficients: 0.0336). The paper's b1 = 3.3e-6 leaves a kink at 0 too small to see,
# and b = 0 exactly would never train (d|b|/db = 0 there); this fit has |b1| = 1.14.
_PAU_A = (0.02979651838541031, 0.6183813214302063, 2.3230175971984863, 3.0511085987091064,
          1.484795331954956, 0.25088077783584595)
_PAU_B = (1.1418734788894653, 4.391874313354492, 0.8711585998535156, 0.34698763489723206)
_PAU_NAMES = tuple(f"a{j}" for j in range(6)) + tuple(f"b{k}" for k in range(1, 5))


def _pau_parts(x, p):
    """Coefficients, and the inner (|x| <= 1) and outer (t = 1/x) arguments, all finite."""
    c = [_coef(p[n], x) for n in _PAU_NAMES]
    a, b = c[:6], [abs(v) for v in c[6:]]
    big = x.abs() > 1
    xi = torch.where(big, torch.zeros_like(x), x)
    t = 1 / torch.where(big, _finite(x), torch.ones_like(x))
    return a, b, big, xi, t


def _in_float32(fn):
    """Evaluate fn in float32 for float16/bfloat16 input (as PyTorch's own half kernels do):
    the polynomials cancel where f is small, and half precision has too few digits for that."""
    def wrapped(x, **p):
        if x.dtype in (torch.float16, torch.bfloat16):
            return fn(x.float(), **p).to(x.dtype)
        return fn(x, **p)
    return wrapped


@_in_float32
def _rational(x, **p):
    # For |x| > 1, P/Q = x R(t) / S(t) with t = 1/x, R(t) = P(x)/x^5, S(t) = Q(x)/x^4: no power of
    # x is formed, so nothing overflows before the result does. At +-inf the limit x a5/|b4| is
    # written out, which also keeps autograd's x * (d/dx 1/x) = inf * 0 out of the gradient.
    a, b, big, xi, t = _pau_parts(x, p)
    inner = _poly(a, xi) / _poly([1.0] + b, xi.abs())
    outer = _finite(x) * _poly(a[::-1], t) / _poly(b[::-1] + [1.0], t.abs())
    y = torch.where(x.isinf(), x * (a[5] / b[3]), torch.where(big, outer, inner))
    return _keep_nan(x, y)


@_in_float32
def _rational_d(x, **p):
    a, b, big, xi, t = _pau_parts(x, p)
    # Inner: f' = (P' - f Q') / Q, Q' = sign(x) d/d|x| Q.
    q = _poly([1.0] + b, xi.abs())
    f = _poly(a, xi) / q
    dp = _poly([j * a[j] for j in range(1, 6)], xi)
    dq = torch.sign(xi) * _poly([k * b[k - 1] for k in range(1, 5)], xi.abs())
    inner = (dp - f * dq) / q
    # Outer: f = x g(t), g = R/S, so f' = g - t g'(t), g' = (R' - g S') / S.
    u = t.abs()
    s = _poly(b[::-1] + [1.0], u)
    g = _poly(a[::-1], t) / s
    dr = _poly([(5 - j) * a[j] for j in range(4, -1, -1)], t)
    ds = torch.sign(t) * _poly([b[2], 2 * b[1], 3 * b[0], 4.0], u)
    outer = g - t * (dr - g * ds) / s
    return _keep_nan(x, torch.where(big, outer, inner))


def _mp_rational(x, **p):
    num = mp.fsum(mp.mpf(p[f"a{j}"]) * x ** j for j in range(6))
    den = 1 + mp.fsum(abs(mp.mpf(p[f"b{k}"])) * abs(x) ** k for k in range(1, 5))
    return num / den


RATIONAL = Activation(
    name="rational", title="Padé activation unit (rational)", family="rational", class_name="PAU",
    # Cancellation in P near its real roots and in the sums of the left tail (docs/precision.md).
    precision=(2e-15, 2.5e-17), dprecision=(5e-15, 1.4e-16),  # measured: tests/test_catalog_verify.py
    aliases=("pau", "pade"),
    params=tuple(_learned(f"a{j}", v, f"initial numerator coefficient of x^{j}") for j, v in enumerate(_PAU_A))
    + tuple(_learned(f"b{k}", v, f"initial denominator coefficient of |x|^{k} (its absolute value is used)")
            for k, v in enumerate(_PAU_B, start=1))
    + (_CHANNELS,),
    formula=r"f(x) = \frac{\sum_{j=0}^{5} a_j x^j}{1 + \sum_{k=1}^{4} |b_k|\,|x|^k},\ a_j, b_k \text{ learned}",
    dformula=r"f'(x) = \frac{P'(x) - f(x)\,Q'(x)}{Q(x)},\ "
             r"Q'(x) = \operatorname{sign}(x) \sum_{k=1}^{4} k\,|b_k|\,|x|^{k-1}",
    description="A learned rational function P(x)/Q(x) of degrees 5 and 4 (the "
    "'safe' Padé activation unit): the denominator is at least 1, so there are "
    "no poles, and the ten coefficients train with the network. Initialised, "
    "as in the paper, to a fit of leaky ReLU on [-3, 3] (within 0.03); for large "
    "|x| it grows like (a5/|b4|) x, 0.72 x at the default.",
    forward=_rational, derivative=_rational_d, reference=_mp_rational,
    monotonic=False, bounds=(-inf, inf), smoothness="C0",
    kinks=lambda p: (0.0,) if p["b1"] != 0 else (),
    settings=({"a0": 0.0, "b1": 0.5, "b3": 0.125}, {"a0": 0.5, "a1": -1.0, "a5": -0.1875, "b2": 0.0}),
    pros=("Can take almost any shape; learns it per layer for ten parameters.",
          "No poles: the denominator is at least 1."),
    cons=("Costlier than a ReLU (two polynomials and a division); the learned shape can grow fast away from the data.",
          "|b1| |x| makes f' jump at 0 (by -2 a0 |b1|)."),
    references=("Molina, Schramowski, Kersting (2020), Padé activation units: end-to-end learning of flexible "
                "activation functions in deep networks (ICLR; arXiv 1907.06732).",),
    notes=("Q(x) = 1 + sum |b_k| |x|^k is the paper's safe PAU (and the official PyTorch reference code); "
           "the authors' CUDA 'version B' uses 1 + |sum b_k x^k| instead.",
           "f'(0) = a1 (sign(0) = 0), as autograd gives. Declared properties are for the default coefficients.",),
)


def _softmin_diag(x, dim):
    y = torch.softmax(-x, dim=dim)
    return -y * (1 - y)


def _softmin_jvp(x, v, dim):
    y = torch.softmax(-x, dim=dim)
    return -y * (v - (y * v).sum(dim=dim, keepdim=True))


def _softmin_jacobian(x, dim):
    y = torch.movedim(torch.softmax(-x, dim=dim), dim, -1)
    return y.unsqueeze(-1) * y.unsqueeze(-2) - torch.diag_embed(y)


def _mp_softmax(xs):
    e = [mp.exp(v) for v in xs]
    total = mp.fsum(e)
    return [v / total for v in e]


SOFTMIN = Activation(
    name="softmin", title="Softmin", family="vector", class_name="Softmin",
    params=(Param("dim", -1, "the dimension that is normalised", kind=int),),
    formula=r"f(x)_i = \frac{e^{-x_i}}{\sum_j e^{-x_j}}",
    dformula=r"\frac{\partial f_i}{\partial x_j} = -f_i\,(\delta_{ij} - f_j)",
    description="Softmax of the negated scores: a probability distribution that "
    "puts most weight on the smallest entry. PyTorch's nn.Softmin.",
    forward=lambda x, dim: torch.softmax(-x, dim=dim), derivative=_softmin_diag,
    jvp=_softmin_jvp, jacobian=_softmin_jacobian,
    native=lambda x, dim: F.softmin(x, dim=dim),
    reference=lambda xs, dim: _mp_softmax([-v for v in xs]),
    bounds=(0.0, 1.0), vector=True, monotonic=True,
    pros=("A differentiable arg-min, e.g. over distances.",),
    cons=("Only for outputs and attention-like weights, like softmax.",),
    references=("PyTorch, torch.nn.Softmin.",),
    notes=(".derivative(x) is the Jacobian's diagonal; .jacobian(x) and .jvp(x, v) as for softmax. "
           "Properties are for the first component of (x, 0), i.e. sigma(-x): decreasing.",),
)


def _log_softmax_jvp(x, v, dim):
    p = torch.softmax(x, dim=dim)
    return v - (p * v).sum(dim=dim, keepdim=True)


def _log_softmax_jacobian(x, dim):
    p = torch.movedim(torch.softmax(x, dim=dim), dim, -1)
    eye = torch.eye(p.shape[-1], dtype=p.dtype, device=p.device)
    return eye - p.unsqueeze(-2)


LOG_SOFTMAX = Activation(
    name="log_softmax", title="Log-softmax", family="vector", class_name="LogSoftmax",
    params=(Param("dim", -1, "the dimension that is normalised", kind=int),),
    formula=r"f(x)_i = x_i - \log \sum_j e^{x_j}",
    dformula=r"\frac{\partial f_i}{\partial x_j} = \delta_{ij} - \operatorname{softmax}(x)_j",
    description="The logarithm of softmax, computed without forming softmax, so "
    "that very negative log-probabilities keep full precision. What "
    "nn.CrossEntropyLoss applies before nn.NLLLoss. PyTorch's nn.LogSoftmax, "
    "jax.nn.log_softmax, Keras' log_softmax.",
    forward=lambda x, dim: torch.log_softmax(x, dim=dim),
    # 1 - softmax_i = -expm1(log_softmax_i): no cancellation when softmax_i is near 1.
    derivative=lambda x, dim: -torch.expm1(torch.log_softmax(x, dim=dim)),
    jvp=_log_softmax_jvp, jacobian=_log_softmax_jacobian,
    native=lambda x, dim: F.log_softmax(x, dim=dim),
    reference=lambda xs, dim: [v - mp.log(mp.fsum(mp.exp(w) for w in xs)) for v in xs],
    bounds=(-inf, 0.0), vector=True, monotonic=True,
    pros=("Stable log-probabilities; pairs with the negative log-likelihood loss.",),
    cons=("An output layer, not a hidden activation.",),
    references=("PyTorch, torch.nn.LogSoftmax; JAX, jax.nn.log_softmax; Keras 3, keras.activations.log_softmax.",),
    notes=(".derivative(x) is the Jacobian's diagonal 1 - softmax(x)_i; the Jacobian I - 1 softmax(x)^T "
           "is not symmetric, and .jvp(x, v) is J v. Properties are for the first component of (x, 0), "
           "i.e. log sigma(x).",),
)


def _sparsemax_parts(x, dim):
    """(p, support mask, support size) of sparsemax along dim."""
    z, _ = torch.sort(x, dim=dim, descending=True)
    shape = [1] * x.dim()
    shape[dim] = x.shape[dim]
    k = torch.arange(1, x.shape[dim] + 1, dtype=x.dtype, device=x.device).reshape(shape)
    cum = z.cumsum(dim)
    # The support is the largest k with 1 + k z_(k) > z_(1) + ... + z_(k) (a prefix of the sorted
    # entries); at least 1, so a NaN row gives index 0 and a NaN threshold.
    size = ((1 + k * z) > cum).sum(dim=dim, keepdim=True).clamp_min(1)
    tau = (cum.gather(dim, size - 1) - 1) / size.to(x.dtype)
    p = torch.clamp_min(x - tau, 0)
    support = _mask(p > 0, x)
    return p, support, support.sum(dim=dim, keepdim=True)


def _sparsemax_jvp(x, v, dim):
    _, s, n = _sparsemax_parts(x, dim)
    return s * (v - (s * v).sum(dim=dim, keepdim=True) / n)


def _sparsemax_jacobian(x, dim):
    _, s, n = _sparsemax_parts(x, dim)
    s, n = torch.movedim(s, dim, -1), torch.movedim(n, dim, -1)
    return torch.diag_embed(s) - s.unsqueeze(-1) * s.unsqueeze(-2) / n.unsqueeze(-1)


def _mp_sparsemax(xs, dim):
    z = sorted(xs, reverse=True)
    cum, size, top = mp.mpf(0), 1, z[0]
    for k, zk in enumerate(z, start=1):
        cum += zk
        if 1 + k * zk > cum:
            size, top = k, cum
    tau = (top - 1) / size
    return [max(v - tau, mp.mpf(0)) for v in xs]


SPARSEMAX = Activation(
    name="sparsemax", title="Sparsemax", family="vector", class_name="Sparsemax",
    params=(Param("dim", -1, "the dimension that is normalised", kind=int),),
    formula=r"f(x) = \arg\min_{p \in \Delta} \|p - x\|^2 = \max(x - \tau(x), 0)",
    dformula=r"\frac{\partial f_i}{\partial x_j} = s_i\left(\delta_{ij} - \frac{s_j}{|S|}\right),"
             r"\ s_i = [f_i > 0],\ |S| = \sum_i s_i",
    description="The Euclidean projection of the scores onto the probability "
    "simplex: like softmax it returns a distribution, but small scores get "
    "exactly zero probability. tau is found by sorting: the support is the k "
    "largest entries for the largest k with 1 + k z_(k) > z_(1) + ... + z_(k). "
    "Keras 3's sparsemax.",
    forward=lambda x, dim: _sparsemax_parts(x, dim)[0],
    derivative=lambda x, dim: (lambda _, s, n: s * (1 - 1 / n))(*_sparsemax_parts(x, dim)),
    jvp=_sparsemax_jvp, jacobian=_sparsemax_jacobian,
    reference=_mp_sparsemax,
    bounds=(0.0, 1.0), vector=True, monotonic=True, smoothness="C0", kinks=(-1.0, 1.0),
    pros=("Sparse probabilities: exact zeros, hence interpretable attention and multi-label outputs.",),
    cons=("Piecewise linear: zero gradient for entries outside the support.",
          "Needs a sort along dim: O(n log n) per vector."),
    references=("Martins & Astudillo (2016), From softmax to sparsemax: a sparse model of attention and "
                "multi-label classification (ICML).", "Keras 3, keras.activations.sparsemax."),
    notes=(".derivative(x) is the Jacobian's diagonal; .jacobian(x) and .jvp(x, v) as for softmax. "
           "Properties are for the first component of (x, 0), which is the sparse sigmoid (x + 1)/2 "
           "clipped to [0, 1]; its kinks at -1 and 1 are where the support changes.",),
)


ALL: tuple[Activation, ...] = (
    IDENTITY, BINARY_STEP, SIGMOID, TANH, ARCTAN, SOFTSIGN, HARDSIGMOID, HARDTANH, LOGSIGMOID,
    RELU, RELU6, LEAKY_RELU, PRELU, RRELU, LEAKY_RELU6, RELU_SQUARED, SOFTPLUS, SQUAREPLUS,
    ELU, CELU, SELU,
    GELU, GELU_TANH, GELU_SIGMOID, SILU, HARDSWISH, MISH,
    SNAKE, TANHSHRINK, SOFTSHRINK, HARDSHRINK, SOFTMAX,
    THRESHOLD, EXPONENTIAL, SPARSE_PLUS, SPARSE_SIGMOID, HARD_MISH, SOFTMIN, LOG_SOFTMAX, SPARSEMAX,
    APL, RATIONAL,
)
