"""What a comparison study is: settings, profiles, parsing of sweep flags, and the list of runs.

A study is activations x seeds (x an optional grid of hyperparameters). Its
configuration (everything that shapes the numbers) is a flat, JSON-able
dict; its hash names the study in the results store.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Optional

from ..catalog import label as _label
from ..results.summary import describe  # re-exported: a run's group label

DEFAULT_ACTIVATIONS = ("sigmoid", "relu", "elu", "leaky_relu:0.2", "selu", "gelu")
ALL = "all"  # train_limit value meaning "no limit", even where the profile sets one


class SweepError(ValueError):
    """A malformed sweep flag (activation list, grid, numbers)."""


@dataclass(frozen=True)
class Study:
    """Every setting of one comparison study.

    ``seeds`` runs per activation use seeds 0..seeds-1 (for initialisation and
    batch order); the validation split is the same for all of them
    (``split_seed``), so activations are compared on identical data.
    """

    activations: tuple = DEFAULT_ACTIVATIONS
    seeds: int = 2
    grid: tuple = ()  # ((key, (v1, v2, ...)), ...)
    dataset: str = "mnist-small"
    val_fraction: float = 0.1
    train_limit: Optional[int] = None
    split_seed: int = 0
    model: str = "cnn"
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    clip_value: Optional[float] = 0.5
    clip_norm: Optional[float] = None
    init: str = "auto"
    batchnorm: bool = False
    width: int = 128
    depth: int = 2
    diagnostics: bool = False
    task: str = "seed-cnn"  # a name in actlab.tasks, or a user's PKG.MODULE:FUNC
    # What the study ranks by (actlab.results.metric): the task's metric and direction; stored in *_acc columns.
    metric: str = "accuracy"
    direction: str = "max"
    # The language-model and regression tasks' settings (engine.EXTRA_DEFAULTS): optimizer steps per epoch
    # (0: one pass over the data), the transformer's context and heads, the fit target; left out of the
    # stored config at these defaults, so classification studies keep their ids.
    steps: int = 0
    context: int = 128
    heads: int = 4
    target: str = ""
    data_dir: Optional[str] = field(default=None, compare=False)  # where, not what: not part of the config

    def config(self) -> dict:
        """The JSON-able configuration stored with the study (excludes only where the data files live).

        The default task is left out, so studies made before tasks existed keep their study ids."""
        from .engine import EXTRA_DEFAULTS

        out = asdict(self)
        out.pop("data_dir")
        if out["task"] == "seed-cnn":
            out.pop("task")
        if (out["metric"], out["direction"]) == ("accuracy", "max"):  # classification: ids as before tasks
            out.pop("metric")
            out.pop("direction")
        for key, default in EXTRA_DEFAULTS.items():  # the language-model and regression settings
            if out[key] == default:
                out.pop(key)
        out["activations"] = list(self.activations)
        out["grid"] = {k: list(v) for k, v in self.grid}
        return out

    def study_id(self) -> str:
        from ..store import canonical_json

        return hashlib.sha256(canonical_json(self.config()).encode()).hexdigest()[:12]

    def grid_points(self) -> list[dict]:
        """Every combination of grid values ([{}] without a grid)."""
        keys = [k for k, _ in self.grid]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in self.grid))]

    def train_settings(self) -> dict:
        """Training settings shared by every run (before grid overrides)."""
        from .engine import EXTRA_DEFAULTS

        return {k: getattr(self, k) for k in TRAIN_KEYS
                if not (k in EXTRA_DEFAULTS and getattr(self, k) == EXTRA_DEFAULTS[k])}

    def runs(self) -> list[dict]:
        """One entry per activation x seed x grid point: activation, seed, grid, config, epochs."""
        out = []
        for point in self.grid_points():
            for activation in self.activations:
                for seed in range(self.seeds):
                    config = {**self.train_settings(), **point, "activation": activation, "seed": seed}
                    out.append({"activation": activation, "seed": seed, "grid": point,
                                "config": config, "epochs": config["epochs"]})
        return out


# Settings handed to the training engine for each run; the grid may vary any of them but epochs.
TRAIN_KEYS = ("model", "epochs", "batch_size", "lr", "optimizer", "clip_value", "clip_norm",
              "init", "batchnorm", "width", "depth", "steps", "context", "heads", "target")
GRID_KEYS = tuple(k for k in TRAIN_KEYS if k not in ("model", "epochs"))

PROFILES: dict[str, dict] = {
    # The seed experiment on the embedded data, sized to finish within five minutes on two CPU cores:
    # 12 runs x 3 epochs x (4,000 training + 3,000 evaluation images); see docs/compare.md for the timing.
    "default": {"epochs": 3, "train_limit": 4000},
    # The full-size study: all of MNIST, the seed's 12 epochs, five seeds.
    "paper": {"dataset": "mnist", "epochs": 12, "seeds": 5, "train_limit": None},
}


def parse_activations(text: str) -> tuple:
    """'relu,elu:alpha=0.2' -> canonical labels, duplicates (two spellings of one activation) removed, order kept."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise SweepError(f"--activations {text!r} has an empty entry; expected a comma-separated list "
                         "such as 'relu,gelu,elu:alpha=0.2'")
    specs: list[str] = []
    for item in items:
        # 'elu:alpha=1,alpha=2': an item that is only key=value continues the activation before it.
        if specs and "=" in item.split(":")[0]:
            specs[-1] += ":" + item
        else:
            specs.append(item)
    return tuple(dict.fromkeys(_label(t) for t in specs))


def parse_value(key: str, text: str):
    """Read a text value (from --grid or a flag) with the type of the Study field ``key``."""
    t = text.strip()
    default = Study.__dataclass_fields__[key].default
    if key in ("clip_value", "clip_norm") and t.lower() in ("none", "off"):
        return None
    if isinstance(default, str):
        return t
    kind = bool if isinstance(default, bool) else int if isinstance(default, int) else float
    try:
        if kind is bool:
            if t.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return t.lower() in ("true", "1", "yes")
        return kind(t)
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number"}[kind]
        raise SweepError(f"value {text!r} for {key} is not {expected}") from None


def parse_train_limit(text: str):
    """'3000' -> 3000; 'all' (or 'none') -> ALL, which lifts a profile's limit."""
    t = text.strip().lower()
    if t in ("all", "none"):
        return ALL
    try:
        return int(t)
    except ValueError:
        raise SweepError(f"--train-limit {text!r} is not a whole number; give e.g. 3000, or 'all'") from None


def parse_grid(items) -> tuple:
    """['lr=0.001|0.0003', 'batch_size=64|128'] -> (('lr', (0.001, 0.0003)), ('batch_size', (64, 128)))."""
    out: dict[str, tuple] = {}
    for item in items or ():
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not values.strip():
            raise SweepError(f"--grid {item!r} is malformed; expected key=v1|v2, e.g. lr=0.001|0.0003")
        if key not in GRID_KEYS:
            raise SweepError(f"--grid cannot vary {key!r}; it can vary {', '.join(GRID_KEYS)}")
        if key in out:
            raise SweepError(f"--grid names {key!r} twice; give all its values in one key=v1|v2")
        parsed = tuple(dict.fromkeys(parse_value(key, v) for v in values.split("|")))
        out[key] = parsed
    return tuple(out.items())


def build_study(profile: str = "default", **overrides: Any) -> Study:
    """A Study from a profile plus explicit settings (None means 'the profile's value').

    Naming ``dataset`` lifts the profile's ``train_limit``: the whole dataset
    is used unless ``train_limit`` is given too.
    """
    from ..tasks import study_settings

    if profile not in (*PROFILES, "test"):  # 'test': a task's small profile, the one the tests train
        raise SweepError(f"unknown profile {profile!r}; expected one of {', '.join((*PROFILES, 'test'))}")
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in fields(Study)}
    if unknown:
        raise TypeError(f"build_study got unknown setting(s): {', '.join(sorted(unknown))}")
    # The task (default seed-cnn) gives dataset, model and budget; its 'default' profile is PROFILES' for seed-cnn.
    settings = study_settings(given.pop("task", "seed-cnn"), profile, given, PROFILES)
    if "dataset" in given and "train_limit" not in given:
        # A profile's subset is sized for its own dataset; a dataset named explicitly trains on all of it.
        settings["train_limit"] = None
    study = replace(Study(), **settings)
    if study.train_limit == ALL:
        study = replace(study, train_limit=None)
    study = replace(study, activations=tuple(dict.fromkeys(_label(a) for a in study.activations)))
    _check_numbers(study)
    return study


def _check_numbers(s: Study) -> None:
    """Every setting checked before any work: a bad value in a grid (or a tuning space) never reaches training."""
    from ..models import SCHEMES
    from .engine import OPTIMIZERS

    def positive(value) -> bool:
        return value > 0 and math.isfinite(value)

    checks = [
        (s.seeds >= 1, f"--seeds must be at least 1 (got {s.seeds}); 2 or more are needed for intervals and tests"),
        (s.epochs >= 1, f"--epochs must be at least 1 (got {s.epochs})"),
        (s.batch_size >= 1, f"--batch-size must be at least 1 (got {s.batch_size})"),
        (s.width >= 1, f"--width must be at least 1 (got {s.width})"),
        (s.depth >= 1, f"--depth must be at least 1 (got {s.depth})"),
        (s.steps >= 0, f"steps per epoch must be at least 0 (got {s.steps})"),
        (s.context >= 1 and s.heads >= 1, f"context and heads must be at least 1 (got {s.context}, {s.heads})"),
        (positive(s.lr), f"--lr must be a positive finite number (got {s.lr})"),
        (s.clip_value is None or positive(s.clip_value),
         f"--clip-value must be positive and finite, or 'none' (got {s.clip_value})"),
        (s.clip_norm is None or positive(s.clip_norm),
         f"--clip-norm must be positive and finite, or 'none' (got {s.clip_norm})"),
        (s.optimizer in OPTIMIZERS, f"optimizer {s.optimizer!r} is not supported; expected one of "
                                    f"{', '.join(OPTIMIZERS)}"),
        (s.init in SCHEMES, f"init {s.init!r} is not a scheme; expected one of {', '.join(SCHEMES)}"),
        (0 < s.val_fraction < 1, f"--val-fraction must lie strictly between 0 and 1 (got {s.val_fraction})"),
        (s.train_limit is None or s.train_limit >= 1, f"--train-limit must be positive (got {s.train_limit})"),
        (bool(s.activations), "no activations to compare; give --activations relu,gelu,..."),
    ]
    for ok, message in checks:
        if not ok:
            raise SweepError(message)
    for key, values in s.grid:
        for v in values:
            _check_numbers(replace(s, grid=(), **{key: v}))
