"""The results store: one SQLite file (``results.sqlite``) per study.

Everything ``actlab compare`` prints or writes (summary.csv, history.csv, the
plots, and later report.html) is computed from this file alone.

Tables
------
``study`` (exactly one row)
    ``study_id`` (hash of the configuration), ``schema_version``, ``created``
    (UTC ISO time), ``command`` (the command line that created it),
    ``config_json`` (every setting that shapes the numbers: data, model,
    training hyperparameters, activations, seeds, grid), ``actlab_version``.
``runs`` (one row per activation x seed x grid point)
    ``run_id``, ``activation`` (canonical spec string, e.g.
    ``leaky_relu:negative_slope=0.2``), ``seed``, ``grid_json`` (the grid
    point's overrides, ``{}`` without a grid), ``config_json`` (the full
    training configuration of this run), ``epochs`` (planned), ``status``
    (``pending`` -> ``running`` -> ``done``; done means every planned epoch
    is stored, or the run diverged), ``attempts`` (how often it was
    started), ``started``, ``finished``. UNIQUE (activation, seed, grid_json).
``epochs`` (one row per run x epoch; PRIMARY KEY (run_id, epoch))
    ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``test_loss``,
    ``test_acc`` (categorical cross-entropy and accuracy on each split;
    NULL where the loss was NaN), ``seconds`` (wall time of the epoch),
    ``samples`` (training samples seen so far), ``diverged`` (1 when the
    loss became NaN or infinite in this epoch: the run stopped there and is
    done with fewer epochs than planned), ``recorded`` (UTC time).
``layer_stats`` (PRIMARY KEY (run_id, epoch, layer, metric))
    Per-layer diagnostics in long form: ``value`` of ``metric`` (e.g.
    ``grad_norm_w``, ``frac_dead``) for ``layer`` after ``epoch``; empty
    unless the study ran with ``--diagnostics``.

Writing rules: one process (the parent of any worker pool) writes; each
epoch row, its layer rows and its run's status change form one transaction;
restarting an unfinished run deletes its partial rows in the same
transaction that marks it running again. Readers may open the file at any
time with ``Store(path, readonly=True)``.
"""
from .db import EPOCH_FIELDS, Store, StoreError, canonical_json, config_diff, decoded
from .schema import SCHEMA, SCHEMA_VERSION

__all__ = ["EPOCH_FIELDS", "SCHEMA", "SCHEMA_VERSION", "Store", "StoreError", "canonical_json", "config_diff", "decoded"]
