"""A faster forward/backward for Sequential models that computes the same function.

``accelerate(model)`` returns a view of an ``nn.Sequential`` (the seed CNN,
the MLP) that shares the model's modules and parameters and rearranges only
how the work is done, measured on a 2-core AVX2 CPU (bench/results/training.md):

- ``ByteDropout``: dropout masks from random bytes instead of Bernoulli draws.
  One 64-bit draw gives eight bytes; a byte below ``p * 256`` drops the
  element, which is exactly probability p when ``p * 256`` is an integer
  (0.25 and 0.5, the seed CNN's rates); other rates use ``F.dropout``. Mask and
  1/(1-p) scale are one float tensor, kept for the backward pass. The bytes
  come from the default generator, so a caller that installs a run's own RNG
  state (the compare engine does) keeps runs deterministic per seed.
- ``PoolThenActivation``: ``maxpool(f(x)) == f(maxpool(x))`` for a
  non-decreasing f, so the activation runs on a quarter of the elements.
  Gradients are equal too, except where f maps different inputs of one pooling
  window to the same value (saturation in floating point) and the two orders
  route the gradient to different inputs; f' is then ~0 or exactly 0 there.
- channels_last memory layout for the convolutions: oneDNN's convolution and
  PyTorch's max pooling are faster in NHWC on this CPU. The tensor returns
  to row-major once, right after the last spatial layer before a flatten
  (``ToContiguous``), with a backward that returns the gradient in
  channels_last, so that no elementwise layer mixes the two layouts (PyTorch
  runs mixed-layout elementwise work on a slow strided path).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..catalog import DEFINITIONS
from ..catalog.properties import compute
from ..catalog.torch_map import catalog_entry, is_elementwise


def is_non_decreasing(act: nn.Module) -> bool:
    """True when ``act`` is elementwise, deterministic and non-decreasing, so that it commutes with max pooling.

    Decided from the catalog, for the module's own parameters: ``act`` (an
    actlab module or a PyTorch one, through :mod:`actlab.catalog.torch_map`)
    must have a catalog entry that is elementwise and not stochastic (RReLU),
    hold no learned parameters (a learned PReLU slope may turn negative), have
    parameters inside the entry's valid ranges, and be non-decreasing as the
    catalog computes it for those parameters
    (:func:`actlab.catalog.properties.compute`, cached per setting). So
    ``nn.ELU(alpha=0.5)`` qualifies and ``nn.ELU(alpha=-0.5)``, which PyTorch
    accepts and which falls then rises, does not.
    """
    entry = catalog_entry(act)
    if entry is None or any(True for _ in act.parameters()):
        return False
    name, params = entry
    definition = DEFINITIONS[name]
    if not is_elementwise(definition) or definition.stochastic:
        return False
    try:
        monotonic = compute(name, **params).monotonic
    except ValueError:  # outside the catalog's valid ranges: the catalog vouches for nothing there
        return False
    return monotonic in ("increasing", "constant")


class _ByteMaskedScale(torch.autograd.Function):
    """y = x * mask, with the float mask (0 or 1/(1-p)) saved for the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return grad * mask, None


def random_bytes(shape, device=None, like: torch.Tensor | None = None) -> torch.Tensor:
    """Uniform random uint8 tensor from the default generator, eight bytes per 64-bit draw.

    With ``like`` (a tensor of this shape) the bytes are laid out in its memory
    format (channels_last included), so that elementwise work between the two
    stays on the fast same-layout path.
    """
    n = 1
    for s in shape:
        n *= s
    words = torch.empty((n + 7) // 8, dtype=torch.int64, device=device)
    # From the int64 minimum with no upper end: the full 64-bit range, so every byte is uniform.
    words.random_(torch.iinfo(torch.int64).min, None)
    flat = words.view(torch.uint8)[:n]
    if like is not None and _is_channels_last(like):
        return flat.as_strided(tuple(shape), like.stride())
    return flat.view(shape)


def _is_channels_last(x: torch.Tensor) -> bool:
    """True for a 4-d tensor stored channels_last (and not also row-major, as size-1 dimensions allow)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


class ByteDropout(nn.Dropout):
    """``nn.Dropout`` whose mask comes from random bytes (exact for p a multiple of 1/256, else F.dropout)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threshold = self.p * 256
        if not self.training or self.p == 0 or threshold != int(threshold) or self.p == 1:
            return F.dropout(x, self.p, self.training, self.inplace)
        keep = random_bytes(x.shape, x.device, like=x) >= int(threshold)
        mask = keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return _ByteMaskedScale.apply(x, mask)


class PoolThenActivation(nn.Module):
    """``act(pool(x))``: the same values as ``pool(act(x))`` for a non-decreasing ``act``, on fewer elements.

    ``to_contiguous``: hand the pooled tensor to ``act`` in the default
    (NCHW) layout; set by :func:`accelerate` when a flatten follows, so that
    everything after the pooling runs in one layout.
    """

    def __init__(self, pool: nn.Module, act: nn.Module, to_contiguous: bool = False):
        super().__init__()
        self.pool, self.act, self.to_contiguous = pool, act, to_contiguous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x)
        return self.act(_contiguous(pooled) if self.to_contiguous else pooled)

    def extra_repr(self) -> str:
        return "to_contiguous=True" if self.to_contiguous else ""


class _Contiguous(torch.autograd.Function):
    """x.contiguous() whose backward hands the gradient back in x's own memory layout."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.channels_last = _is_channels_last(x)
        return x.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


def _contiguous(x: torch.Tensor) -> torch.Tensor:
    return _Contiguous.apply(x) if torch.is_grad_enabled() and x.requires_grad else x.contiguous()


class ToContiguous(nn.Module):
    """Identity in value; returns the input in the default (row-major, NCHW) memory layout, and its
    gradient in the input's layout (so that the layer before keeps its fast same-layout backward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _contiguous(x)


def _is_max_pool(module: nn.Module) -> bool:
    return isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d))


def accelerate(model: nn.Module, *, pool_first: bool = True, byte_dropout: bool = True,
               channels_last: bool = True) -> nn.Module:
    """A module computing the same function as ``model`` faster; ``model`` itself when nothing applies.

    Only ``nn.Sequential`` models are rearranged: with ``pool_first`` a
    non-decreasing activation directly followed by max pooling swaps places with
    it, with ``byte_dropout`` ``nn.Dropout`` becomes :class:`ByteDropout` (same
    p), and with ``channels_last`` a model with 2-d convolutions has its
    parameters converted to channels_last in place (the flags exist for the
    benchmark's ablation; all three pay on the seed CNN). The
    result shares every module and parameter with ``model``; switch train/eval
    mode on the result (its new dropout modules are not part of ``model``).
    """
    if not isinstance(model, nn.Sequential):
        return model
    layers = list(model)
    out: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if pool_first and nxt is not None and _is_max_pool(nxt) and is_non_decreasing(layer):
            out.append(PoolThenActivation(nxt, layer))
            i += 2
            continue
        if byte_dropout and type(layer) is nn.Dropout:
            fast = ByteDropout(layer.p, layer.inplace)
            fast.train(layer.training)
            layer = fast
        out.append(layer)
        i += 1
    if channels_last and any(isinstance(m, nn.Conv2d) for m in layers):
        model.to(memory_format=torch.channels_last)
        out = _back_to_nchw_before_flatten(out)
    return nn.Sequential(*out)


_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, PoolThenActivation)


def _back_to_nchw_before_flatten(layers: list[nn.Module]) -> list[nn.Module]:
    """Leave channels_last right after the last spatial layer before each ``nn.Flatten``.

    Convolutions produce channels_last tensors; ``Flatten`` needs row-major
    ones, so its reshape copies and its gradient comes back row-major. The
    elementwise layers in between (activation, dropout) would then mix layouts
    in their backward pass, which PyTorch runs ~20x slower than same-layout
    work (threshold_backward on [128, 64, 12, 12]: 7.6 ms against 0.36 ms).
    One conversion at the end of the spatial part keeps both sides uniform.
    """
    out = list(layers)
    for k in [i for i, m in enumerate(out) if isinstance(m, nn.Flatten)][::-1]:
        j = k - 1
        while j >= 0 and not isinstance(out[j], _SPATIAL + (nn.Flatten,)):
            j -= 1
        if j < 0 or isinstance(out[j], nn.Flatten):
            continue
        if isinstance(out[j], PoolThenActivation):
            out[j].to_contiguous = True
        else:  # also right before the flatten: its backward then hands channels_last gradients back
            out.insert(j + 1, ToContiguous())
    return out
