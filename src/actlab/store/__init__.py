"""The results store: one SQLite file (``results.sqlite``) per study.

Everything ``actlab compare`` prints or writes (summary.csv, history.csv, the
plots, and later report.html) is computed from this file alone.

Tables
------
The file carries actlab's SQLite application id (``APPLICATION_ID``); an
existing file without it, or a damaged one, is refused and never written.

``study`` (exactly one row)
    ``study_id`` (hash of the configuration), ``schema_version``, ``created``
    (UTC ISO time), ``command`` (the command line that created it),
    ``config_json`` (every setting that shapes the numbers: data, model,
    training hyperparameters, activations, seeds, grid), ``data_json`` (the
    data's provenance: dataset, source, SHA-256 of each decompressed file;
    a resume must match it), ``actlab_version``.
``invocations`` (one row per ``compare``/``tune`` invocation on the study)
    ``number``, ``started``, ``command``, ``pid``, ``host``.
``runs`` (one row per activation x seed x grid point)
    ``run_id``, ``activation`` (canonical spec string, e.g.
    ``leaky_relu:negative_slope=0.2``), ``seed``, ``grid_json`` (the grid
    point's overrides, ``{}`` without a grid), ``config_json`` (the full
    training configuration of this run), ``epochs`` (planned), ``status``
    (``pending`` -> ``running`` -> ``done``, ``diverged`` or ``stopped``:
    done means every planned epoch is stored; diverged that the loss became
    NaN or infinite and training stopped there; stopped that early stopping
    ended it), ``attempts`` (how often it was started), ``started``,
    ``finished``, ``env_json`` (backend, versions of torch, actlab and
    Python, threads, device, host of its latest attempt).
    ``trial`` (NULL for a study run; N for tuning's search trial N, see
    ``trials``; readers skip trial runs unless asked, ``runs(trials=True)``).
    UNIQUE (activation, seed, grid_json, trial).
``epochs`` (one row per run x epoch; PRIMARY KEY (run_id, epoch))
    ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``test_loss``,
    ``test_acc`` (categorical cross-entropy and accuracy on each split;
    NULL where the loss was NaN), ``seconds`` (wall time of the epoch),
    ``samples`` (training samples seen so far), ``diverged`` (1 when the
    loss became NaN or infinite in this epoch: the run stopped there),
    ``recorded`` (UTC time).
``stopped_runs`` (one row per run early stopping ended)
    ``epoch`` (its last), ``score`` and ``reason`` of the decision.
``trials`` (``actlab tune``'s search; PRIMARY KEY (activation, number))
    ``run_id`` (the run that trains it: trained, checkpointed and resumed
    like any run; its epochs keep no test numbers), ``params_json``,
    ``config_json``, ``status`` (running, done), ``score`` (validation
    accuracy at its lowest-validation-loss epoch), ``best_epoch``,
    ``started``, ``finished``.
``layer_stats`` (PRIMARY KEY (run_id, epoch, layer, metric))
    Per-layer diagnostics in long form: ``value`` of ``metric`` (e.g.
    ``grad_norm_w``, ``frac_dead``) for ``layer`` after ``epoch``; empty
    unless the study ran with ``--diagnostics``.

Writing rules: one process (the parent of any worker pool) writes, and it
holds the study folder's lock (:class:`StudyLock`) while it does; each
epoch row, its layer rows and its run's status change form one transaction;
restarting an unfinished run deletes its partial rows in the same
transaction that marks it running again. Readers may open the file at any
time with ``Store(path, readonly=True)``.
"""
from .checkpoints import Checkpoints
from .db import EPOCH_FIELDS, Store, StoreError, canonical_json, config_diff, decoded
from .files import atomic_write
from .lock import StudyBusy, StudyLock
from .schema import APPLICATION_ID, FINAL_STATUSES, SCHEMA, SCHEMA_VERSION

__all__ = ["APPLICATION_ID", "Checkpoints", "EPOCH_FIELDS", "FINAL_STATUSES", "SCHEMA", "SCHEMA_VERSION", "Store", "StoreError",
           "StudyBusy", "StudyLock", "atomic_write", "canonical_json", "config_diff", "decoded"]
