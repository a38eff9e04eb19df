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

from .schema import APPLICATION_ID, SCHEMA, SCHEMA_VERSION, TABLES

TRIAL_FIELDS = ("train_loss", "train_acc", "val_loss", "val_acc", "seconds")  # a search trial keeps no test numbers
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


SQLITE_MAGIC = b"SQLite format 3\x00"


def _inspect(path: Path) -> bool:
    """Whether ``path`` is a new store (absent or empty); raise StoreError unless it is an intact actlab store.

    Reads the file only: the SQLite header (magic string, application id at
    byte 68) and, through a read-only connection, an integrity check.
    """
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a results store; choose another --out folder")
    if not path.exists() or path.stat().st_size == 0:
        return True
    with open(path, "rb") as f:
        header = f.read(100)
    keep = "it was left unchanged: move it away or choose another --out folder"
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        raise StoreError(f"{path} is not a readable actlab results store (not an SQLite database: damaged, "
                         f"or another program's file); {keep}")
    found = int.from_bytes(header[68:72], "big")
    if found != APPLICATION_ID:
        raise StoreError(f"{path}: it is not an actlab results store (an SQLite database with application id "
                         f"{found:#x}, not actlab's {APPLICATION_ID:#x}: another program's database, or a store "
                         f"written before schema version {SCHEMA_VERSION}); {keep}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        problems = [str(e)]
    if problems != ["ok"]:
        raise StoreError(f"{path} is a damaged actlab results store ({'; '.join(problems[:2])}); {keep}")
    return False


class Store:
    """The results store of one study; see :mod:`actlab.store` for the schema.

    An existing file is inspected before anything is written to it: a file
    that is not SQLite, an SQLite file without actlab's application id (another
    program's database, or a store of an older schema) and a damaged store
    are refused with :class:`StoreError` and left byte for byte unchanged.
    """

    def __init__(self, path, *, readonly: bool = False):
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise StoreError(f"no results store at {self.path}; expected the results.sqlite "
                             "written by 'actlab compare'")
        fresh = _inspect(self.path) and not readonly
        uri = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
        try:
            # A generous busy timeout: another connection holding the write lock briefly must not fail a commit.
            self.conn = sqlite3.connect(uri, uri=readonly, isolation_level=None, timeout=60)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys = ON")
            if fresh:
                # Header and tables go straight into the main file (rollback journal) before WAL is switched
                # on, in ONE transaction: a writer killed half-way leaves an empty file (a new store to the
                # next writer), never an actlab header without tables (which would be refused as damaged).
                self.conn.executescript(f"BEGIN; PRAGMA application_id = {APPLICATION_ID}; {SCHEMA}; COMMIT;")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
            self._check_tables()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is damaged ({e}); it was left as it is: move it away or "
                             "choose another --out folder") from None

    def _check_tables(self) -> None:
        present = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise StoreError(f"{self.path} lacks the table(s) {', '.join(missing)}: it is damaged, or not an "
                             "actlab results store; move it away or choose another --out folder")
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

    def ensure_study(self, study_id: str, config: Mapping, command: str, version: str,
                     data: Optional[Mapping] = None) -> None:
        """Create the study, or check that the stored one has exactly this configuration and data.

        ``data``: the provenance of the data (dataset name, source, SHA-256 of
        each file); a resume on other data is refused like one with other
        settings, with the differences in the message. Where the files live
        (``source``) may change; their content may not.
        """
        data = dict(data or {})
        existing = self.study()
        if existing is None:
            with self._transaction():
                self.conn.execute(
                    "INSERT INTO study (id, study_id, schema_version, created, command, config_json, data_json, "
                    "actlab_version) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
                    (study_id, SCHEMA_VERSION, _now(), command, canonical_json(config), canonical_json(data),
                     version))
            return
        changes = []
        if existing["study_id"] != study_id or existing["config"] != dict(config):
            changes += config_diff(existing["config"], config) or ["(same settings, different study id)"]
        if data:
            old, new = _content(existing["data"]), _content(data)
            changes += [f"data {c}" for c in config_diff(old, new)]
        if changes:
            raise StoreError(
                f"{self.path} holds a study with another configuration or data ({'; '.join(changes)}); "
                f"results are never mixed: choose a new --out folder, or repeat the original command "
                f"to resume it: {existing['command']}")

    def add_invocation(self, command: str, pid: int, host: str) -> None:
        """Record one invocation (start time, command, process, host); every invocation is kept."""
        with self._transaction():
            self.conn.execute("INSERT INTO invocations (started, command, pid, host) VALUES (?, ?, ?, ?)",
                              (_now(), command, pid, host))

    def invocations(self) -> list[dict]:
        """Every invocation on this study, oldest first."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM invocations ORDER BY number")]

    # --- runs -------------------------------------------------------------- #
    def add_runs(self, runs: Iterable[Mapping]) -> None:
        """Register runs (activation, seed, grid, config, epochs); already known runs are kept as they are."""
        with self._transaction():
            self.conn.executemany(
                "INSERT OR IGNORE INTO runs (activation, seed, grid_json, config_json, epochs) VALUES (?, ?, ?, ?, ?)",
                [(r["activation"], r["seed"], canonical_json(r.get("grid", {})), canonical_json(r["config"]),
                  r["epochs"]) for r in runs])

    def runs(self, status: Optional[str] = None, *, trials: bool = False) -> list[dict]:
        """All runs in registration order (optionally only those with ``status``); tuning's search trials
        (``trial`` not NULL) only with ``trials=True``: the study's runs are what is ranked."""
        where = ["status = ?"] if status else []
        if not trials:
            where.append("trial IS NULL")
        query = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY run_id"
        return decoded(self.conn.execute(query, (status,) if status else ()))

    def restart_run(self, run_id: int, env: Optional[Mapping] = None, *, after_epoch: int = 0) -> None:
        """Mark a run running again, dropping its epochs after ``after_epoch`` (all of them by default: it
        starts from scratch; else it continues from that epoch's checkpoint), in one transaction.

        ``env``: where it runs (e.g. the backend); the worker adds its own
        details (versions, threads, device, host) with its first epoch.
        """
        with self._transaction():
            self.conn.execute("DELETE FROM layer_stats WHERE run_id = ? AND epoch > ?", (run_id, after_epoch))
            self.conn.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, after_epoch))
            env = dict(env or {}, resumed_after_epoch=after_epoch) if after_epoch else dict(env or {})
            cur = self.conn.execute(
                "UPDATE runs SET status = 'running', attempts = attempts + 1, started = ?, finished = NULL, "
                "env_json = ? WHERE run_id = ? AND status IN ('pending', 'running')",
                (_now(), canonical_json(env), run_id))
            if cur.rowcount != 1:
                raise StoreError(f"run {run_id} does not exist or is already finished; it cannot be restarted")

    def stored_epochs(self, run_id: int) -> int:
        """How many epochs of the run are stored without a gap (1, 2, ... k): where a resume can continue."""
        epochs = [r[0] for r in self.conn.execute("SELECT epoch FROM epochs WHERE run_id = ? ORDER BY epoch",
                                                  (run_id,))]
        k = 0
        while k < len(epochs) and epochs[k] == k + 1:
            k += 1
        return k

    def record_epoch(self, run_id: int, record: Mapping, layers: Iterable[Mapping] = ()) -> bool:
        """Store one epoch (and its per-layer statistics) in one transaction.

        The run ends in the same transaction: ``done`` after its last planned
        epoch, ``diverged`` when its loss became NaN or infinite
        (``record['diverged']``; training stopped there). ``record['env']``,
        when present, is merged into the run's environment. Returns whether
        the run has ended.
        """
        epoch = int(record["epoch"])
        diverged = int(bool(record.get("diverged", False)))
        with self._transaction():
            trial = self.conn.execute("SELECT trial FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if trial is not None and trial[0] is not None:  # a search trial: the test set is never stored
                record = {k: v for k, v in record.items() if k not in ("test_loss", "test_acc")}
            self.conn.execute(
                f"INSERT INTO epochs (run_id, epoch, {', '.join(EPOCH_FIELDS)}, diverged, recorded) "
                f"VALUES (?, ?, {', '.join('?' * len(EPOCH_FIELDS))}, ?, ?)",
                (run_id, epoch, *[_number(record.get(k)) for k in EPOCH_FIELDS], diverged, _now()))
            self.conn.executemany(
                "INSERT INTO layer_stats (run_id, epoch, layer, metric, value) VALUES (?, ?, ?, ?, ?)",
                list(_layer_rows(run_id, epoch, layers)))
            if record.get("env"):
                row = self.conn.execute("SELECT env_json FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                env = {**json.loads(row[0]), **record["env"]}
                self.conn.execute("UPDATE runs SET env_json = ? WHERE run_id = ?", (canonical_json(env), run_id))
            cur = self.conn.execute(
                "UPDATE runs SET status = CASE WHEN ? THEN 'diverged' ELSE 'done' END, finished = ? "
                "WHERE run_id = ? AND (epochs = ? OR ?)",
                (diverged, _now(), run_id, epoch, diverged))
        return cur.rowcount == 1

    def stop_runs(self, run_ids: Iterable[int], epoch: int, score: Optional[float], reason: str) -> None:
        """Early stopping ended these runs after ``epoch``: status ``stopped``, and why, in one transaction."""
        now = _now()
        with self._transaction():
            for run_id in run_ids:
                self.conn.execute(
                    "INSERT OR REPLACE INTO stopped_runs (run_id, epoch, score, reason, recorded) "
                    "VALUES (?, ?, ?, ?, ?)", (run_id, epoch, _number(score), reason, now))
                self.conn.execute("UPDATE runs SET status = 'stopped', finished = ? WHERE run_id = ?",
                                  (now, run_id))

    def stopped_runs(self) -> dict:
        """run_id -> {epoch, score, reason} for every run that early stopping ended."""
        rows = self.conn.execute("SELECT run_id, epoch, score, reason FROM stopped_runs ORDER BY run_id")
        return {r[0]: {"epoch": r[1], "score": r[2], "reason": r[3]} for r in rows}

    # --- tuning trials ----------------------------------------------------- #
    def add_trial(self, activation: str, number: int, params: Mapping, config: Mapping) -> int:
        """Register search trial ``number`` of ``activation`` and the run that trains it (``runs.trial``),
        before it trains; a known trial is kept as it is. Returns the trial's run id."""
        with self._transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO runs (activation, seed, grid_json, config_json, epochs, trial) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (activation, config["seed"], canonical_json(params), canonical_json(config), config["epochs"],
                 number))
            run_id = self.conn.execute(
                "SELECT run_id FROM runs WHERE activation = ? AND seed = ? AND grid_json = ? AND trial = ?",
                (activation, config["seed"], canonical_json(params), number)).fetchone()[0]
            self.conn.execute(
                "INSERT OR IGNORE INTO trials (activation, number, run_id, params_json, config_json, status, started) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (activation, number, run_id, canonical_json(params), canonical_json(config), _now()))
        return run_id

    def trials(self, status: Optional[str] = None) -> list[dict]:
        """Every tuning trial (optionally only those with ``status``) in the order they were proposed."""
        query = "SELECT * FROM trials" + (" WHERE status = ?" if status else "") + " ORDER BY rowid"
        return decoded(self.conn.execute(query, (status,) if status else ()))

    def trial_epochs(self) -> list[dict]:
        """Every epoch of every search trial (train and validation numbers only)."""
        return [dict(r) for r in self.conn.execute(
            f"SELECT t.activation, t.number, e.epoch, {', '.join('e.' + k for k in TRIAL_FIELDS)} "
            "FROM epochs e JOIN trials t USING (run_id) ORDER BY t.activation, t.number, e.epoch")]

    def score_trials(self, choose_best) -> int:
        """Close every trial whose run has ended (done or diverged): its score is the validation accuracy of
        ``choose_best(rows)`` (rows: epoch, val_loss, val_acc); one transaction per trial. Returns how many."""
        ended = self.conn.execute(
            "SELECT t.activation, t.number, t.run_id FROM trials t JOIN runs r USING (run_id) "
            "WHERE t.status = 'running' AND r.status IN ('done', 'diverged') ORDER BY t.rowid").fetchall()
        for activation, number, run_id in ended:
            with self._transaction():
                rows = [dict(r) for r in self.conn.execute(
                    "SELECT epoch, val_loss, val_acc FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))]
                best = choose_best(rows)
                self.conn.execute(
                    "UPDATE trials SET status = 'done', score = ?, best_epoch = ?, finished = ? "
                    "WHERE activation = ? AND number = ?", (best["val_acc"], best["epoch"], _now(), activation, number))
        return len(ended)

    # --- reading ----------------------------------------------------------- #
    def epochs(self) -> list[dict]:
        """Every epoch row joined with its run's activation, seed and grid, in run and epoch order."""
        return decoded(self.conn.execute(
            "SELECT r.activation, r.seed, r.grid_json, r.status, e.* FROM epochs e "
            "JOIN runs r USING (run_id) WHERE r.trial IS NULL ORDER BY e.run_id, e.epoch"))

    def epochs_in_arrival_order(self) -> list[dict]:
        """(run_id, epoch, val_acc, diverged) of every stored epoch, in the order the epochs were stored
        (SQLite's rowid: a new row's is above every existing one's). Early stopping replays its rung
        decisions from it on resume."""
        return [dict(r) for r in self.conn.execute(
            "SELECT run_id, epoch, val_acc, diverged FROM epochs WHERE run_id IN "
            "(SELECT run_id FROM runs WHERE trial IS NULL) ORDER BY rowid")]

    def layer_stats(self, run_id: Optional[int] = None) -> list[dict]:
        """Per-layer statistics rows (run_id, epoch, layer, metric, value)."""
        query = "SELECT * FROM layer_stats" + (" WHERE run_id = ?" if run_id is not None else "")
        query += " ORDER BY run_id, epoch, layer, metric"
        return [dict(r) for r in self.conn.execute(query, (run_id,) if run_id is not None else ())]


def _content(data: Mapping) -> dict:
    """What data provenance must match on resume: the dataset and each file's hash, not where it lies."""
    files = data.get("files") or {}
    return {"dataset": data.get("dataset"), **{f"{stem} sha256": f.get("sha256") for stem, f in files.items()}}


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
