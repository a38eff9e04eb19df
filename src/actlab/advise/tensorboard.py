"""Per-layer health as TensorBoard scalars: a handful of numbers per layer per step, not histograms.

For each row of a ``Diagnoser.table()`` (one per layer), ``write_health``
writes, under tags grouped by metric so that TensorBoard shows one section per
metric with one chart per layer:

- ``health/grad_norm/<layer>``: |dL/dW|;
- ``health/grad_ratio/<layer>``: |dL/dW_l| / |dL/dW_next| (the next weighted
  layer toward the output); inside a run of equal layers whose signal is at
  its fixed point its square is the mean-field chi_1 (``actlab.advise``
  corrects for a forward signal that is still growing or fading);
- ``health/update_ratio/<layer>``: |dW| / |W| per optimizer step;
- ``health/act_var/<layer>``, ``health/saturated/<layer>``, ``health/dead/<layer>``.

Needs the optional extra: ``pip install 'actlab[tensorboard]'``.
"""
from __future__ import annotations

import math
from pathlib import Path

METRICS = {"grad_norm": "grad_norm_w", "update_ratio": "update_ratio", "act_var": "act_var",
           "saturated": "frac_saturated", "dead": "frac_dead"}


def open_writer(writer_or_logdir):
    """(writer, close_when_done): a SummaryWriter for a folder, or the writer given."""
    if isinstance(writer_or_logdir, (str, Path)):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("writing TensorBoard summaries needs the tensorboard package: "
                              "pip install 'actlab[tensorboard]'") from None
        return SummaryWriter(log_dir=str(writer_or_logdir)), True
    if not hasattr(writer_or_logdir, "add_scalar"):
        raise TypeError(f"expected a log folder or a SummaryWriter, got {type(writer_or_logdir).__name__}")
    return writer_or_logdir, False


def health_scalars(table: list[dict]) -> dict[str, float]:
    """The tag -> value pairs ``write_health`` writes for one table (finite values only)."""
    out = {}
    weighted = [row for row in table if row.get("grad_norm_w") is not None]
    for row, nxt in zip(weighted, weighted[1:]):
        if nxt["grad_norm_w"] > 0:
            out[f"health/grad_ratio/{row['name']}"] = row["grad_norm_w"] / nxt["grad_norm_w"]
    for row in table:
        for short, key in METRICS.items():
            value = row.get(key)
            if value is not None:
                out[f"health/{short}/{row['name']}"] = value
    return {tag: float(v) for tag, v in out.items() if math.isfinite(v)}


def write_health(writer_or_logdir, table: list[dict], step: int) -> int:
    """Write one per-layer health summary of ``table`` (a ``Diagnoser.table()``) at ``step``.

    Args:
        writer_or_logdir: a ``torch.utils.tensorboard.SummaryWriter``, or a
            folder (a writer is opened, written and closed; pass a writer when
            logging many steps).
        table: per-layer rows as ``actlab.diagnose`` returns them.
        step: the global step.

    Returns:
        The number of scalars written.

    Examples:
        >>> with actlab.diagnose(model, optimizer=opt) as d:
        ...     for step, (x, y) in enumerate(loader):
        ...         train_step(x, y)
        ...         write_health(writer, d.table(), step); d.reset()
    """
    writer, close = open_writer(writer_or_logdir)
    try:
        scalars = health_scalars(table)
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, global_step=step)
        writer.flush()
    finally:
        if close:
            writer.close()
    return len(scalars)
