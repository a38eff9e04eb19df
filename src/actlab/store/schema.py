"""The SQL schema of a results store (see the package docstring for the meaning of each column)."""
from __future__ import annotations

SCHEMA_VERSION = 1

TABLES = ("study", "runs", "epochs", "layer_stats")

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    study_id       TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    created        TEXT    NOT NULL,
    command        TEXT    NOT NULL,
    config_json    TEXT    NOT NULL,
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
                CHECK (status IN ('pending', 'running', 'done')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started     TEXT,
    finished    TEXT,
    UNIQUE (activation, seed, grid_json)
);

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
"""
