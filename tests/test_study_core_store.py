"""A damaged or foreign SQLite file is never modified or adopted; --out naming a file is one clear line (issue 10)."""
import hashlib
import os
import sqlite3

import pytest

from actlab.cli import main
from actlab.store import Store, StoreError

TINY = ["compare", "--model", "mlp", "--activations", "relu", "--seeds", "1", "--epochs", "1",
        "--train-limit", "200", "--width", "16", "--workers", "1", "--quiet"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_database(path):
    """Another program's SQLite file, whose tables happen to share actlab's names."""
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE study (x); CREATE TABLE runs (y); CREATE TABLE epochs (z);"
                       "CREATE TABLE layer_stats (w); CREATE TABLE invoices (id, amount);"
                       "INSERT INTO invoices VALUES (1, 9.5);")
    conn.commit()
    conn.close()


def test_foreign_database_is_left_byte_for_byte_unchanged(tmp_path, capsys):
    path = tmp_path / "results.sqlite"
    foreign_database(path)
    before = digest(path)
    with pytest.raises(StoreError, match="not an actlab results store"):
        Store(path)
    assert main([*TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an actlab results store" in err[0] and "Traceback" not in err[0]
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]


def test_damaged_file_is_left_unchanged(tmp_path, capsys):
    path = tmp_path / "results.sqlite"
    path.write_bytes(os.urandom(5000))
    before = digest(path)
    with pytest.raises(StoreError):
        Store(path)
    assert main([*TINY, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    assert digest(path) == before


def test_truncated_actlab_store_is_refused_unchanged(tmp_path, capsys):
    out = tmp_path / "study"
    assert main([*TINY, "--out", str(out)]) == 0
    path = out / "results.sqlite"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = digest(path)
    assert main([*TINY, "--out", str(out)]) == 2
    assert "damaged" in capsys.readouterr().err
    assert digest(path) == before


def test_out_naming_an_existing_file_is_one_line_and_nothing_changes(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    assert main([*TINY, "--out", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0]
    assert path.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_new_store_carries_actlabs_application_id(tmp_path):
    with Store(tmp_path / "results.sqlite") as store:
        store.ensure_study("abc", {"epochs": 1}, "actlab compare", "0")
    conn = sqlite3.connect(tmp_path / "results.sqlite")
    assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
    conn.close()
    with Store(tmp_path / "results.sqlite") as store:  # and it opens again
        assert store.study()["study_id"] == "abc"
