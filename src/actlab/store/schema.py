"""The SQL schema of a results store (see the package docstring for the meaning of each column)."""
from __future__ import annotations

SCHEMA_VERSION = 3  # 3: tuning trials are runs (runs.trial), trial_epochs gone
# Written into the SQLite header of every store ("ACLB"): a file without it is not actlab's and is never touched.
APPLICATION_ID = 0x41434C42

TABLES = ("study", "runs", "epochs", "layer_stats", "stopped_runs", "invocations", "trials")
# A run's life: pending -> running -> done | diverged | stopped (early stopping); only the last three are final.
FINAL_STATUSES = ("done", "diverged", "stopped")

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    study_id       TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    created        TEXT    NOT NULL,
    command        TEXT    NOT NULL,
    config_json    TEXT    NOT NULL,
    data_json      TEXT    NOT NULL,
    actlab_version TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id      INTEGER PRIMARY KEY,
    activation  TEXT    NOT NULL,
    seed        INTEGER NOT NULL,
    grid_json   TEXT    NOT NULL DEFAULT '{}',
    config_json TEXT    NOT NULL,
    epochs      INTEGER NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'diverged', 'stopped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    env_json    TEXT    NOT NULL DEFAULT '{}',
    started     TEXT,
    finished    TEXT,
    trial       INTEGER CHECK (trial IS NULL OR trial >= 0)  -- NULL: a study run; N: tuning's search trial N
);
-- One run per activation x seed x grid point (x search trial); NULL trials compare equal here.
CREATE UNIQUE INDEX IF NOT EXISTS runs_key ON runs (activation, seed, grid_json, IFNULL(trial, -1));

CREATE TABLE IF NOT EXISTS epochs (
    run_id     INTEGER NOT NULL REFERENCES runs (run_id),
    epoch      INTEGER NOT NULL CHECK (epoch >= 1),
    train_loss REAL,
    train_acc  REAL,
    val_loss   REAL,
    val_acc    REAL,
    test_loss  REAL,
    test_acc   REAL,
    seconds    REAL,
    samples    INTEGER,
    diverged   INTEGER NOT NULL DEFAULT 0 CHECK (diverged IN (0, 1)),
    recorded   TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);

CREATE TABLE IF NOT EXISTS layer_stats (
    run_id INTEGER NOT NULL REFERENCES runs (run_id),
    epoch  INTEGER NOT NULL,
    layer  TEXT    NOT NULL,
    metric TEXT    NOT NULL,
    value  REAL,
    PRIMARY KEY (run_id, epoch, layer, metric)
);

CREATE TABLE IF NOT EXISTS stopped_runs (
    run_id   INTEGER PRIMARY KEY REFERENCES runs (run_id),
    epoch    INTEGER NOT NULL,
    score    REAL,
    reason   TEXT    NOT NULL,
    recorded TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS invocations (
    number  INTEGER PRIMARY KEY,
    started TEXT    NOT NULL,
    command TEXT    NOT NULL,
    pid     INTEGER NOT NULL,
    host    TEXT    NOT NULL
);

-- actlab tune's search: one row per activation x trial number; its training is the run run_id (runs.trial =
-- number), trained, checkpointed and resumed like any run; its epochs keep no test numbers.
CREATE TABLE IF NOT EXISTS trials (
    activation  TEXT    NOT NULL,
    number      INTEGER NOT NULL,
    run_id      INTEGER NOT NULL UNIQUE REFERENCES runs (run_id),
    params_json TEXT    NOT NULL,
    config_json TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'done')),
    score       REAL,
    best_epoch  INTEGER,
    started     TEXT    NOT NULL,
    finished    TEXT,
    PRIMARY KEY (activation, number)
);
"""
