"""What a study ranks by: the metric's name, its direction, its range and how it is shown.

Every stored epoch keeps two numbers per split: the loss (``*_loss``, the
training loss: cross-entropy in nats, or mean squared error) and the task's
metric (``*_acc``; the column keeps its historical name). For
classification the metric is accuracy; a language model stores bits per
character there, a regression its root mean squared error. The study's
configuration names the metric and its direction (``metric``,
``direction``; absent for classification, so older studies read as
accuracy), and every reader that ranks, tests or prints a study asks
:func:`metric_of` what the numbers mean instead of assuming "accuracy,
higher is better, in [0, 1]".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Metric:
    """One metric.

    Args:
        name: the name a task and the study configuration use ('accuracy', 'bits_per_char', ...).
        short: the short form in column names (``test_{short}_mean``): 'acc', 'bpc', 'rmse'.
        label: how a reader names it ('accuracy', 'bits per character').
        direction: 'max' when higher is better, 'min' when lower is.
        bounds: the values it can take, (low, high); ``math.inf`` where unbounded.
        percent: shown as a percentage (accuracy) rather than as a plain number.

    Examples:
        >>> metric_of({}).higher_is_better, metric_of({"metric": "bits_per_char"}).short
        (True, 'bpc')
    """

    name: str
    short: str
    label: str
    direction: str = "max"
    bounds: tuple = (0.0, 1.0)
    percent: bool = False

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "max"

    @property
    def span(self) -> float:
        """The width of the metric's range (inf when unbounded): the most two values can differ by."""
        return self.bounds[1] - self.bounds[0]

    def column(self, split: str = "test") -> str:
        """The summary column stem of ``split``: 'test_acc', 'test_bpc', ..."""
        return f"{split}_{self.short}"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b``."""
        return a > b if self.higher_is_better else a < b

    def oriented(self, value: float) -> float:
        """``value`` turned so that higher is better (negated for a 'min' metric): what sorting uses."""
        return value if self.higher_is_better else -value

    def format(self, value: float, digits: int = 4) -> str:
        """A value as a reader sees it: '98.12%' (accuracy), '2.053' (``digits`` significant digits, trailing
        zeros kept so a column of values lines up: '2.000', '0.001230')."""
        if value is None or not math.isfinite(value):
            return "nan"
        if self.percent:
            return f"{100 * value:.2f}%"
        if value == 0:
            return f"{0:.{digits - 1}f}"
        return f"{value:.{max(0, digits - 1 - math.floor(math.log10(abs(value))))}f}"

    @property
    def scale(self) -> float:
        """What a difference is multiplied by to be written in :attr:`unit` (100: accuracy points)."""
        return 100.0 if self.percent else 1.0

    @property
    def unit(self) -> str:
        """The unit differences are written in: 'points' (of accuracy) or the metric's own label."""
        return "points" if self.percent else self.label

    def format_diff(self, value: float, sign: bool = False) -> str:
        """A difference of two values in :attr:`unit`: '0.52' (accuracy points, two decimals), '-0.0131'
        (bits per character, three significant digits); '-' when not finite."""
        if value is None or not math.isfinite(value):
            return "-"
        scaled = self.scale * value
        return (f"{scaled:+.2f}" if sign else f"{scaled:.2f}") if self.percent else \
            (f"{scaled:+.3g}" if sign else f"{scaled:.3g}")

    def rename(self, column: str) -> str:
        """A summary.csv / pairs.csv column named for accuracy, renamed for this metric.

        'test_acc_mean' -> 'test_bpc_mean', 'acc_ci_low' -> 'bpc_ci_low', 'diff_points' -> 'diff_bpc'
        (differences are in the metric's units, not accuracy points); accuracy's names stay as they are.

        Examples:
            >>> metric_of({"metric": "bits_per_char"}).rename("diff_vs_best_points")
            'diff_vs_best_bpc'
        """
        if self.short == "acc" and self.percent:
            return column
        if column.startswith("test_acc_"):
            return f"{self.column('test')}_" + column[len("test_acc_"):]
        if column.startswith("acc_ci_"):
            return f"{self.short}_ci_" + column[len("acc_ci_"):]
        if column.endswith("_points"):
            return column[:-len("points")] + self.short
        return column


ACCURACY = Metric("accuracy", "acc", "accuracy", "max", (0.0, 1.0), percent=True)
METRICS = {m.name: m for m in (
    ACCURACY,
    Metric("bits_per_char", "bpc", "bits per character", "min", (0.0, math.inf)),
    Metric("rmse", "rmse", "root mean squared error", "min", (0.0, math.inf)),
    Metric("rmse_out_of_range", "rmse", "root mean squared error outside the training box", "min", (0.0, math.inf)),
)}


def metric_of(config: Mapping) -> Metric:
    """The metric of a study from its configuration (``metric`` and ``direction``; accuracy by default).

    A metric this table does not know (a user's task) is taken as named, unbounded, in the given direction.
    """
    name = config.get("metric") or "accuracy"
    known = METRICS.get(name)
    direction = config.get("direction") or (known.direction if known else "max")
    if known is not None and known.direction == direction:
        return known
    short = known.short if known else name
    return Metric(name, short, name.replace("_", " "), direction,
                  known.bounds if known else (-math.inf, math.inf))
