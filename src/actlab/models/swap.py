"""Find and replace the activation modules of any PyTorch model.

What counts as an activation is derived, not listed: every module that
:mod:`actlab.catalog.torch_map` maps to a catalog entry (PyTorch's activation
classes and their subclasses, and actlab's own modules) whose entry is
elementwise. Softmax, GLU and the other vector or gated units are left in
place: swapping them would change what the layer means or its output shape.
"""
from __future__ import annotations

from torch import nn

from ..catalog import DEFINITIONS, get, parse
from ..catalog.torch_map import catalog_name, is_elementwise


def is_activation(module: nn.Module) -> bool:
    """True for an elementwise activation module (PyTorch's or actlab's) that swap replaces."""
    name = catalog_name(module, inherited=True)
    return name is not None and is_elementwise(DEFINITIONS[name])


def _reference_tensor(old: nn.Module, parent: nn.Module):
    """A tensor whose device and dtype the replacement should match (None: keep the defaults)."""
    for source in (old.parameters(), old.buffers(), parent.parameters(), parent.buffers()):
        for tensor in source:
            return tensor
    return None


def swap(model: nn.Module, name: str, **params) -> int:
    """Replace every activation module in ``model``, in place, by a fresh ``actlab.get(name, **params)``.

    Each replaced position gets its own new module (learned parameters such as
    PReLU's slope are never shared), placed on the device and dtype of the
    module it replaces. Returns how many modules were replaced.

    A model with no activation modules is an error rather than a silent 0: a
    comparison that swapped nothing would report identical numbers for every
    activation. Activations called as functions inside ``forward`` (``F.relu``)
    are not modules and cannot be swapped.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"swap expects a torch.nn.Module, got {type(model).__name__}")
    base, _ = parse(name)
    if not is_elementwise(DEFINITIONS[base]):
        raise ValueError(f"{name!r} is not elementwise and cannot replace hidden activations; "
                         "choose an elementwise activation (see 'actlab list')")
    get(name, **params)  # validate the name and parameters before touching the model
    targets = [(parent, child_name, child)
               for parent in model.modules()
               for child_name, child in parent.named_children()
               if is_activation(child)]
    if not targets and is_activation(model):
        raise ValueError("swap was given a single activation module; build a new one with actlab.get(name) instead")
    if not targets:
        raise ValueError(
            f"{type(model).__name__} has no activation modules to swap (looked for torch.nn activations such as "
            "nn.ReLU and actlab activation modules). Activations called as functions in forward(), like F.relu, "
            "cannot be replaced: use modules (nn.ReLU() or actlab.get('relu')) in the model instead.")
    for parent, child_name, old in targets:
        new = get(name, **params)
        reference = _reference_tensor(old, parent)
        if reference is not None:
            new = new.to(device=reference.device, dtype=reference.dtype)
        new.train(old.training)
        setattr(parent, child_name, new)
    return len(targets)
