"""A finished (or running) study as Python objects: ``actlab.load("runs/x")``.

Everything is read once, through the store's readers; :func:`load` opens
the store read-only and never writes it. The ranking is the one summary.csv
holds (the same :func:`~actlab.results.summary.summarize_rows`), and
:meth:`Study.write_tables` is the one writer of summary.csv, pairs.csv and
history.csv. ``study.verdict``, ``study.pairs`` and ``study.p_best`` give the
all-pairs verdict (docs/statistics.md); its sentence heads the display. A study
with a grid of two or more points is one comparison per grid point (ranks,
pairs and P(best) within each; one paragraph of the sentence per grid point).
"""
from __future__ import annotations

import html
import sqlite3
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ..store import Store, StoreError
from .metric import Metric, metric_of
from .race_view import lead_with_race
from .summary import HISTORY_COLUMNS, Summary, describe, history_rows, summarize_rows, write_csv

STORE_NAME = "results.sqlite"
RUN_COLUMNS = ("run_id", "label", "activation", "grid", "seed", "status", "epochs", "epochs_done", "attempts",
               "started", "finished", "config", "env")


@dataclass
class Study:
    """One study's results, read from its store.

    Attributes:
        folder: the study folder (the store's parent).
        study: the store's study row (``config`` and ``data`` decoded).
        invocations: every ``compare``/``tune`` invocation, oldest first.
        run_rows: every planned run (``label`` added), in registration order.
        history_rows: one dict per run x stored epoch (``HISTORY_COLUMNS`` and more).
        summary: the ranking over finished runs (what summary.csv holds).
        layer_stats: per-layer diagnostics rows (``label`` added); empty without ``--diagnostics``.
    """

    folder: Path
    study: dict
    invocations: list[dict]
    run_rows: list[dict]
    history_rows: list[dict]
    summary: Summary
    layer_stats: list[dict] = field(default_factory=list)

    @classmethod
    def read(cls, store: Store, folder=None) -> "Study":
        """Everything in an open store (read through its readers only; nothing is written)."""
        study = store.study()
        if study is None:
            raise StoreError(f"{store.path} holds no study yet (the store is empty); start or resume it with "
                             "'actlab compare --out FOLDER'")
        runs, epochs = store.runs(), store.epochs()
        done: dict[int, int] = {}
        for row in epochs:
            done[row["run_id"]] = done.get(row["run_id"], 0) + 1
        labels = {}
        for run in runs:
            run["label"] = labels[run["run_id"]] = describe(run)
            run["epochs_done"] = done.get(run["run_id"], 0)
        layers = store.layer_stats()
        for row in layers:
            row["label"] = labels.get(row["run_id"], f"run {row['run_id']}")
        folder = Path(folder) if folder is not None else store.path.parent
        # a raced study's sentence leads with the race's error-controlled decisions (race.json beside the store)
        summary = lead_with_race(summarize_rows(runs, epochs, metric=metric_of(study["config"])), folder)
        return cls(folder, study, store.invocations(), runs, history_rows(epochs), summary, layers)

    # --- plain Python ------------------------------------------------------ #
    @property
    def config(self) -> dict:
        """The study's configuration, the command that created it, and every invocation's command."""
        s = self.study
        return {**s["config"], "study_id": s["study_id"], "created": s["created"], "command": s["command"],
                "actlab_version": s["actlab_version"], "invocations": [dict(i) for i in self.invocations]}

    @property
    def metric(self) -> Metric:
        """What the study ranks by (accuracy, bits per character, ...), its direction and how it is shown."""
        return self.summary.metric

    @property
    def provenance(self) -> dict:
        """The data the study trained on: dataset, source, SHA-256 of each file."""
        return dict(self.study.get("data") or {})

    def count(self, status: str) -> int:
        """How many runs have ``status`` (pending, running, done, diverged, stopped)."""
        return sum(1 for r in self.run_rows if r["status"] == status)

    @property
    def in_progress(self) -> bool:
        """True while a run is pending or running (the study is running, or was interrupted)."""
        return any(r["status"] in ("pending", "running") for r in self.run_rows)  # done, diverged, stopped: ended

    @property
    def verdict(self):
        """The all-pairs analysis (:class:`actlab.results.verdict.Verdict`: pairs, P(best), power, sentence);
        None before any run finished."""
        return self.summary.verdict

    @property
    def sentence(self) -> str:
        """The verdict in one plain paragraph ('' before any run finished)."""
        return self.summary.sentence

    @property
    def p_best(self) -> dict:
        """``{label: probability of being the best}``, highest first (a t posterior over seeds, paired)."""
        v = self.summary.verdict
        return {} if v is None else {k: b.p_best for k, b in v.best.items()}

    # --- pandas ------------------------------------------------------------ #
    @property
    def ranking(self):
        """DataFrame, one row per activation (and grid point) in rank order: summary.csv's columns (the metric's
        named for it: ``test_acc_mean`` for accuracy, ``test_bpc_mean`` for bits per character)."""
        return _frame(self.summary.rows, self.summary.columns)

    @property
    def runs(self):
        """DataFrame, one row per run: status, seed, label, full config and environment (versions, host)."""
        return _frame(self.run_rows, RUN_COLUMNS)

    @property
    def pairs(self):
        """DataFrame, one row per pair of activations (better first): pairs.csv's columns."""
        return _frame(self.summary.pairs, self.summary.pair_columns)

    @property
    def history(self):
        """DataFrame, one row per run per stored epoch: history.csv's columns."""
        return _frame(self.history_rows, HISTORY_COLUMNS)

    # --- writing elsewhere ------------------------------------------------- #
    def write_tables(self, out_dir) -> None:
        """summary.csv, pairs.csv and history.csv into ``out_dir`` (atomically), from this object's numbers."""
        out_dir = Path(out_dir)
        write_csv(out_dir / "summary.csv", self.summary.columns, self.summary.rows)
        write_csv(out_dir / "pairs.csv", self.summary.pair_columns, self.summary.pairs)
        write_csv(out_dir / "history.csv", HISTORY_COLUMNS, self.history_rows)

    # --- display ----------------------------------------------------------- #
    def _headline(self) -> str:
        c = self.study["config"]
        status = ", ".join(f"{self.count(s)} {s}" for s in ("done", "diverged", "stopped", "running", "pending")
                           if self.count(s))
        m = self.summary.metric
        ranked = "" if m.name == "accuracy" else \
            f", ranked by {m.label}, {'higher' if m.higher_is_better else 'lower'} is better"
        return (f"actlab study {self.folder} ({c.get('dataset', '?')}, {c.get('model', '?')}, "
                f"{len(self.run_rows)} runs: {status or 'none'}{ranked})")

    def __repr__(self) -> str:
        lines = [self._headline()]
        for paragraph in self.sentence.split("\n\n") if self.sentence else ():  # a grid: one per grid point
            lines.extend(textwrap.wrap(paragraph, 96, initial_indent="  ", subsequent_indent="  "))
        s = self.summary
        mean, low, high = s.col("test_acc_mean"), s.col("acc_ci_low"), s.col("acc_ci_high")
        for i, r in enumerate(s.rows):
            if s.grids and (i == 0 or r["grid"] != s.rows[i - 1]["grid"]):
                lines.append(f"  at {r['grid'].replace(';', ', ')}:")
            lines.append(f"  {r['rank']:>2}. {r['label']:<28} test {s.metric.short} {_num(r[mean])} "
                         f"[{_num(r[low])}, {_num(r[high])}]  P(best) {_num(r['p_best'], 2)}"
                         f"  n={r['n_runs']}")
        if not self.summary.rows:
            lines.append("  no finished run yet")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = tuple(self.summary.col(h) for h in (
            "rank", "label", "n_runs", "divergence_rate", "test_acc_mean", "test_acc_std", "acc_ci_low",
            "acc_ci_high", "p_best", "rank_low", "rank_high", "diff_vs_best_points", "p_holm_pairs",
            "test_loss_mean", "best_epoch_mean"))
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_num(r[h]) if isinstance(r[h], float) else str(r[h]))}"
                                        "</td>" for h in head) + "</tr>" for r in self.summary.rows)
        sentence = f"<p><strong>{html.escape(self.sentence)}</strong></p>" if self.sentence else ""
        return (f"<div><p>{html.escape(self._headline())}</p>{sentence}"
                f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table></div>")


def _num(value, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _frame(rows: list[dict], columns):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("actlab.load(...)'s tables are pandas DataFrames; install them with "
                          "pip install 'actlab[results]' (or pip install pandas)") from None
    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=list(columns))


def store_path(path) -> Path:
    """The results store a user names: a study folder or its results.sqlite; StoreError when there is none."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path} does not exist; give a study folder (the --out of 'actlab compare' or "
                         "'actlab tune') or its results.sqlite")
    if path.is_dir():
        path = path / STORE_NAME
        if not path.is_file():
            raise StoreError(f"{path.parent} is not a study folder: it has no {STORE_NAME}; give the --out folder "
                             "of 'actlab compare' or 'actlab tune'")
    return path


def load(path) -> Study:
    """Read a study's results: ``actlab.load("runs/mnist")``.

    Args:
        path: a study folder (the ``--out`` of ``actlab compare`` or ``actlab tune``) or its results.sqlite.

    Returns:
        a :class:`Study`: ``.ranking``, ``.pairs``, ``.runs``, ``.history`` (pandas DataFrames), ``.verdict``,
        ``.sentence``, ``.p_best``, ``.config``, ``.provenance``; it shows as a table in Jupyter, headed by the
        verdict sentence.

    Raises:
        StoreError: no such folder, no store in it, or a file that is not an actlab store (left unchanged).

    Examples:
        >>> study = actlab.load("runs/mnist")                   # doctest: +SKIP
        >>> study.ranking[["label", "test_acc_mean", "verdict"]]  # doctest: +SKIP
    """
    path = store_path(path)
    try:
        with Store(path, readonly=True) as store:
            return Study.read(store, path.parent)
    except sqlite3.Error as e:
        raise StoreError(f"{path} could not be read ({e}); it is damaged or not an actlab results store") from None
