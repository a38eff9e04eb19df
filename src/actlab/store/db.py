"""One study's results in one SQLite file, written by one process.

Durability comes from small transactions: every epoch row is inserted, and
its run's status updated, in a single transaction, so a process killed at
any moment leaves either the whole epoch or none of it. The file uses WAL
journaling with ``synchronous=FULL``: readers (``actlab report``, a second
terminal) never block the writer, and a committed epoch survives a crash.
"""
from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from .schema import SCHEMA, SCHEMA_VERSION, TABLES

EPOCH_FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds", "samples")


def decoded(rows: Iterable[sqlite3.Row]) -> list[dict]:
    """Rows as dicts, every ``<name>_json`` column decoded into ``<name>``.

    The one place JSON columns are read back: the store's tables and those
    that other parts add to the same file (tuning's ``trials``) all use it.
    """
    out = []
    for row in rows:
        item = dict(row)
        for key in [k for k in item if k.endswith("_json")]:
            item[key[:-5]] = json.loads(item.pop(key))
        out.append(item)
    return out


class StoreError(ValueError):
    """The results file is unreadable, foreign, or belongs to another configuration."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def config_diff(old: Mapping, new: Mapping) -> list[str]:
    """Human-readable differences between two flat configuration mappings."""
    out = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return out


class Store:
    """The results store of one study; see :mod:`actlab.store` for the schema."""

    def __init__(self, path, *, readonly: bool = False):
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise StoreError(f"no results store at {self.path}; expected the results.sqlite "
                             "written by 'actlab compare'")
        uri = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
        try:
            # A generous busy timeout: another connection holding the write lock briefly must not fail a commit.
            self.conn = sqlite3.connect(uri, uri=readonly, isolation_level=None, timeout=60)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.executescript(SCHEMA)
            self._check_tables()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a readable actlab results store ({e}); "
                             "move it away or choose another --out folder") from None

    def _check_tables(self) -> None:
        present = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise StoreError(f"{self.path} lacks the table(s) {', '.join(missing)}: it is not an actlab "
                             "results store; move it away or choose another --out folder")
        row = self.conn.execute("SELECT schema_version FROM study").fetchone()
        if row is not None and row[0] != SCHEMA_VERSION:
            raise StoreError(f"{self.path} uses store schema version {row[0]}, this actlab reads "
                             f"version {SCHEMA_VERSION}; use the actlab version that wrote it or a new --out folder")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _transaction(self):
        return _Transaction(self.conn)

    # --- study ------------------------------------------------------------- #
    def study(self) -> Optional[dict]:
        """The study row, with ``config`` decoded; None for a fresh store."""
        rows = decoded(self.conn.execute("SELECT * FROM study"))
        return rows[0] if rows else None

    def ensure_study(self, study_id: str, config: Mapping, command: str, version: str) -> None:
        """Create the study, or check that the stored one has exactly this configuration."""
        existing = self.study()
        if existing is None:
            with self._transaction():
                self.conn.execute(
                    "INSERT INTO study (id, study_id, schema_version, created, command, config_json, actlab_version) "
                    "VALUES (1, ?, ?, ?, ?, ?, ?)",
                    (study_id, SCHEMA_VERSION, _now(), command, canonical_json(config), version))
            return
        if existing["study_id"] != study_id or existing["config"] != dict(config):
            changes = config_diff(existing["config"], config) or ["(same settings, different study id)"]
            raise StoreError(
                f"{self.path} holds a study with another configuration ({'; '.join(changes)}); "
                f"results are never mixed: choose a new --out folder, or repeat the original command "
                f"to resume it: {existing['command']}")

    # --- runs -------------------------------------------------------------- #
    def add_runs(self, runs: Iterable[Mapping]) -> None:
        """Register runs (activation, seed, grid, config, epochs); already known runs are kept as they are."""
        with self._transaction():
            self.conn.executemany(
                "INSERT OR IGNORE INTO runs (activation, seed, grid_json, config_json, epochs) VALUES (?, ?, ?, ?, ?)",
                [(r["activation"], r["seed"], canonical_json(r.get("grid", {})), canonical_json(r["config"]),
                  r["epochs"]) for r in runs])

    def runs(self, status: Optional[str] = None) -> list[dict]:
        """All runs in registration order (optionally only those with ``status``)."""
        query = "SELECT * FROM runs" + (" WHERE status = ?" if status else "") + " ORDER BY run_id"
        return decoded(self.conn.execute(query, (status,) if status else ()))

    def restart_run(self, run_id: int) -> None:
        """Drop a run's partial epochs and mark it running again, in one transaction."""
        with self._transaction():
            self.conn.execute("DELETE FROM layer_stats WHERE run_id = ?", (run_id,))
            self.conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            cur = self.conn.execute(
                "UPDATE runs SET status = 'running', attempts = attempts + 1, started = ?, finished = NULL "
                "WHERE run_id = ? AND status != 'done'", (_now(), run_id))
            if cur.rowcount != 1:
                raise StoreError(f"run {run_id} does not exist or is already finished; it cannot be restarted")

    def record_epoch(self, run_id: int, record: Mapping, layers: Iterable[Mapping] = ()) -> bool:
        """Store one epoch (and its per-layer statistics) in one transaction.

        The run is marked done in the same transaction when this was its last
        planned epoch, or when the run diverged (``record['diverged']``: its
        loss became NaN or infinite and training stopped); returns whether it
        is now done.
        """
        epoch = int(record["epoch"])
        diverged = int(bool(record.get("diverged", False)))
        with self._transaction():
            self.conn.execute(
                f"INSERT INTO epochs (run_id, epoch, {', '.join(EPOCH_FIELDS)}, diverged, recorded) "
                f"VALUES (?, ?, {', '.join('?' * len(EPOCH_FIELDS))}, ?, ?)",
                (run_id, epoch, *[_number(record.get(k)) for k in EPOCH_FIELDS], diverged, _now()))
            self.conn.executemany(
                "INSERT INTO layer_stats (run_id, epoch, layer, metric, value) VALUES (?, ?, ?, ?, ?)",
                list(_layer_rows(run_id, epoch, layers)))
            cur = self.conn.execute(
                "UPDATE runs SET status = 'done', finished = ? WHERE run_id = ? AND (epochs = ? OR ?)",
                (_now(), run_id, epoch, diverged))
        return cur.rowcount == 1

    # --- reading ----------------------------------------------------------- #
    def epochs(self) -> list[dict]:
        """Every epoch row joined with its run's activation, seed and grid, in run and epoch order."""
        return decoded(self.conn.execute(
            "SELECT r.activation, r.seed, r.grid_json, r.status, e.* FROM epochs e "
            "JOIN runs r USING (run_id) ORDER BY e.run_id, e.epoch"))

    def layer_stats(self, run_id: Optional[int] = None) -> list[dict]:
        """Per-layer statistics rows (run_id, epoch, layer, metric, value)."""
        query = "SELECT * FROM layer_stats" + (" WHERE run_id = ?" if run_id is not None else "")
        query += " ORDER BY run_id, epoch, layer, metric"
        return [dict(r) for r in self.conn.execute(query, (run_id,) if run_id is not None else ())]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *rest):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def _number(value):
    """SQLite stores NaN as NULL anyway; say so explicitly so infinities survive and NaN reads back as None."""
    if value is None:
        return None
    if isinstance(value, (bool, int)):
        return int(value)
    value = float(value)
    return None if math.isnan(value) else value


def _layer_rows(run_id: int, epoch: int, layers: Iterable[Mapping]):
    for layer in layers:
        name = str(layer.get("name", layer.get("layer")))
        for metric, value in layer.items():
            if metric in ("name", "layer") or not isinstance(value, (int, float)):
                continue
            yield run_id, epoch, name, metric, _number(value)
