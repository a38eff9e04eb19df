"""Where each activation lives in PyTorch, JAX and Keras, and how their defaults differ.

One table, keyed by catalog name, read by the docstring generator (the
"Frameworks" line of every module and function) and by the parity tests,
which call every counterpart that is installed and assert both the values and
every default written here (``tests/test_parity_jax.py``). A default that a
framework changes makes that test fail rather than leave the docs wrong.

A :class:`Counterpart` says how to call the framework's op so that it computes
the actlab definition: ``args`` selects the definition (``approximate=False``
for JAX's exact GELU), actlab parameters are passed under the framework's
names (``rename``), and parameters the framework does not have are pinned to
the value its op implies (``fixed``: JAX's softplus has no ``beta``).
``defaults`` are the framework's own defaults, by the framework's argument
names, as its signature states them.

Keys are catalog names or aliases (the frameworks' own names are aliases), so
an entry for an activation that is not in the catalog yet is simply unused.

The PyTorch column is also actlab's map from ``torch.nn`` classes to catalog
entries: ``torch_map.py`` derives ``TORCH_CLASSES`` from it (``args`` there
say which attribute values pick which entry, as ``approximate`` does for
``nn.GELU``), so each PyTorch class is named once, here. A new PyTorch
activation becomes swappable, diagnosable and initialisable by adding its
``_torch(...)`` counterpart.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Counterpart:
    """A framework's function or ``nn.Module`` class that computes one actlab activation.

    ``name`` is importable (``jax.nn.gelu``, ``torch.nn.GELU``); a class is
    built with the parameters and then called on x, a function is called as
    ``f(x, **parameters)``.
    """

    framework: str  # "PyTorch", "JAX" or "Keras"
    name: str
    args: dict = field(default_factory=dict)
    rename: dict = field(default_factory=dict)  # actlab parameter -> the framework's argument
    fixed: dict = field(default_factory=dict)  # actlab parameter -> the only value the framework computes
    defaults: dict = field(default_factory=dict)  # the framework's argument -> its default
    # Where the framework's formula loses precision: the parity test then allows a few ulps of |x|
    # instead of |f(x)|, and checks that actlab is the closer to mpmath where the two differ most.
    cancels: str = ""

    def call_text(self) -> str:
        """How to call it, e.g. ``jax.nn.gelu(x, approximate=False)``."""
        args = "".join(f", {k}={v!r}" for k, v in self.args.items())
        if self.name.split(".")[-1][:1].isupper():
            return f"{self.name}({args[2:]})"
        return f"{self.name}(x{args})"


def _torch(cls, **kw):
    return Counterpart("PyTorch", f"torch.nn.{cls}", **kw)


def _jax(fn, **kw):
    return Counterpart("JAX", fn if "." in fn else f"jax.nn.{fn}", **kw)


def _keras(fn, **kw):
    return Counterpart("Keras", fn if "." in fn else f"keras.activations.{fn}", **kw)


_EXACT_SOFTPLUS = {"beta": 1.0, "threshold": None}
_GELU_TANH_CANCELS = "computes x (1 + tanh u) / 2, which cancels in the left tail (x < -5)"
_SQUAREPLUS_CANCELS = "computes (x + sqrt(x^2 + b)) / 2, which cancels for large negative x"

FRAMEWORKS: dict[str, tuple[Counterpart, ...]] = {
    "identity": (_torch("Identity"), _jax("identity"), _keras("linear")),
    "sigmoid": (_torch("Sigmoid"), _jax("sigmoid"), _keras("sigmoid")),
    "tanh": (_torch("Tanh"), _jax("jax.numpy.tanh"), _keras("tanh")),
    "arctan": (_jax("jax.numpy.arctan"),),
    "softsign": (_torch("Softsign"), _jax("soft_sign"), _keras("softsign")),
    # Keras 2's hard_sigmoid was the ramp 0.2 x + 0.5; Keras 3's is relu6(x + 3) / 6, as here.
    "hardsigmoid": (_torch("Hardsigmoid"), _jax("hard_sigmoid"), _keras("hard_sigmoid")),
    "hardtanh": (_torch("Hardtanh", defaults={"min_val": -1.0, "max_val": 1.0}),
                 _jax("hard_tanh", fixed={"min_val": -1.0, "max_val": 1.0}),
                 _keras("hard_tanh", fixed={"min_val": -1.0, "max_val": 1.0})),
    "logsigmoid": (_torch("LogSigmoid"), _jax("log_sigmoid"), _keras("log_sigmoid")),
    "relu": (_torch("ReLU"), _jax("relu"), _keras("relu", defaults={"negative_slope": 0.0, "threshold": 0.0})),
    "relu6": (_torch("ReLU6"), _jax("relu6"), _keras("relu6")),
    "leaky_relu": (_torch("LeakyReLU", defaults={"negative_slope": 0.01}),
                   _jax("leaky_relu", defaults={"negative_slope": 0.01}),
                   _keras("leaky_relu", defaults={"negative_slope": 0.2}),
                   _keras("keras.layers.LeakyReLU", defaults={"negative_slope": 0.3})),
    "prelu": (_torch("PReLU", rename={"weight": "init"}, defaults={"init": 0.25}),),
    "rrelu": (_torch("RReLU", defaults={"lower": 1 / 8, "upper": 1 / 3}),),
    "softplus": (_torch("Softplus", defaults={"beta": 1.0, "threshold": 20.0}),
                 _jax("softplus", fixed=_EXACT_SOFTPLUS), _keras("softplus", fixed=_EXACT_SOFTPLUS)),
    "squareplus": (_jax("squareplus", defaults={"b": 4}, cancels=_SQUAREPLUS_CANCELS),
                   _keras("squareplus", defaults={"b": 4}, cancels=_SQUAREPLUS_CANCELS)),
    "elu": (_torch("ELU", defaults={"alpha": 1.0}), _jax("elu", defaults={"alpha": 1.0}),
            _keras("elu", defaults={"alpha": 1.0})),
    "celu": (_torch("CELU", defaults={"alpha": 1.0}), _jax("celu", defaults={"alpha": 1.0}),
             _keras("celu", defaults={"alpha": 1.0})),
    "selu": (_torch("SELU"), _jax("selu"), _keras("selu")),
    "gelu": (_torch("GELU", args={"approximate": "none"}, defaults={"approximate": "none"}),
             _jax("gelu", args={"approximate": False}, defaults={"approximate": True}),
             _keras("gelu", args={"approximate": False}, defaults={"approximate": False})),
    "gelu_tanh": (_torch("GELU", args={"approximate": "tanh"}, defaults={"approximate": "none"}),
                  _jax("gelu", defaults={"approximate": True}, cancels=_GELU_TANH_CANCELS),
                  _keras("gelu", args={"approximate": True}, defaults={"approximate": False},
                         cancels=_GELU_TANH_CANCELS)),
    "silu": (_torch("SiLU", fixed={"beta": 1.0}), _jax("silu", fixed={"beta": 1.0}),
             _keras("silu", fixed={"beta": 1.0})),
    "hardswish": (_torch("Hardswish"), _jax("hard_silu"), _keras("hard_silu")),
    "mish": (_torch("Mish"), _jax("mish"), _keras("mish")),
    "tanhshrink": (_torch("Tanhshrink"),
                   _keras("tanh_shrink", cancels="computes x - tanh(x), which cancels for |x| < 1")),
    "softshrink": (_torch("Softshrink", defaults={"lambd": 0.5}),
                   _keras("soft_shrink", rename={"lambd": "threshold"}, defaults={"threshold": 0.5})),
    "hardshrink": (_torch("Hardshrink", defaults={"lambd": 0.5}),
                   _keras("hard_shrink", rename={"lambd": "threshold"}, defaults={"threshold": 0.5})),
    "softmax": (_torch("Softmax", fixed={"temperature": 1.0}),
                _jax("softmax", rename={"dim": "axis"}, fixed={"temperature": 1.0}, defaults={"axis": -1}),
                _keras("softmax", rename={"dim": "axis"}, fixed={"temperature": 1.0}, defaults={"axis": -1})),
    # The frameworks' remainder (issue 13).
    "log_softmax": (_torch("LogSoftmax"), _jax("log_softmax", rename={"dim": "axis"}, defaults={"axis": -1}),
                    _keras("log_softmax", rename={"dim": "axis"}, defaults={"axis": -1})),
    "softmin": (_torch("Softmin"),),
    # Not Keras' sparsemax: on the JAX backend Keras 3.15 sums every cumulative sum in the support
    # for tau, so sparsemax([0.1, 1.2, -0.3, 2.0]) gives zeros instead of [0, 0.1, 0, 0.9].
    "glu": (_torch("GLU", defaults={"dim": -1}), _jax("glu", rename={"dim": "axis"}, defaults={"axis": -1}),
            _keras("glu", rename={"dim": "axis"}, defaults={"axis": -1})),
    "sparse_plus": (_jax("sparse_plus"), _keras("sparse_plus")),
    "sparse_sigmoid": (_jax("sparse_sigmoid"), _keras("sparse_sigmoid")),
    "exponential": (_keras("exponential"),),
    # PyTorch's and Keras' threshold: no defaults, both arguments are required.
    "threshold": (_torch("Threshold"), _keras("threshold", rename={"value": "default_value"})),
}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


_BY_KEY = {_key(k): v for k, v in FRAMEWORKS.items()}


def counterparts(spec) -> tuple[Counterpart, ...]:
    """The framework counterparts of one definition (by its name or any alias); () if none."""
    for name in (spec.name, *spec.aliases):
        if _key(name) in _BY_KEY:
            return _BY_KEY[_key(name)]
    return ()
