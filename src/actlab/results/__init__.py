"""A study's results in Python, read only through the store: the ranking, the runs, the history.

    study = actlab.load("runs/mnist")
    study.ranking          # DataFrame: one row per activation (summary.csv)
    study.pairs            # DataFrame: one row per pair of activations (pairs.csv)
    study.sentence         # the verdict: what to use, how sure, what it would take
    study.runs             # DataFrame: one row per run (status, seed, config, versions)
    study.history          # DataFrame: one row per run x epoch (history.csv)

Layering: above the store (whose readers are its only source), below
compare and report, which both read their numbers and statistics here.
"""
from .study import Study, load
from .summary import Summary, summarize

__all__ = ["Study", "Summary", "load", "summarize"]
