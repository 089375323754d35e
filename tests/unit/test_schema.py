"""The schema files and their migration: numbered, applied once, all or nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from seedbed import schema
from seedbed.store import Store


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_new_store_is_at_the_newest_version(tmp_path: Path) -> None:
    Store(tmp_path / "seedbed.db")
    newest = schema.migrations()[-1].version
    assert schema.version(_connect(tmp_path / "seedbed.db")) == newest
    tables = {r[0] for r in _connect(tmp_path / "seedbed.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"nodes", "installs", "events", "cluster_jobs", "discovered"} <= tables


def test_each_file_runs_once_and_a_failing_one_leaves_the_version(tmp_path: Path) -> None:
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "0001-a.sql").write_text("CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\n")
    db = _connect(tmp_path / "t.db")
    assert schema.migrate(db, folder) == 1
    assert schema.migrate(db, folder) == 1  # not applied twice
    assert db.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 1
    (folder / "0002-b.sql").write_text("INSERT INTO a VALUES (2);\nINSERT INTO nowhere VALUES (3);\n")
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        schema.migrate(db, folder)
    assert schema.version(db) == 1
    assert db.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 1  # the half-run file rolled back


def test_triggers_are_one_statement_and_numbers_are_unique(tmp_path: Path) -> None:
    counts = next(m for m in schema.migrations() if m.path.name == "0002-event-counts.sql")
    assert sum(s.startswith("CREATE TRIGGER") for s in counts.statements()) == 2
    (tmp_path / "0001-a.sql").write_text("SELECT 1;\n")
    (tmp_path / "0001-b.sql").write_text("SELECT 2;\n")
    with pytest.raises(ValueError, match="share a number"):
        schema.migrations(tmp_path)


def test_a_store_from_the_first_release_gains_its_later_column(tmp_path: Path) -> None:
    db = _connect(tmp_path / "old.db")
    db.execute("CREATE TABLE installs (id INTEGER PRIMARY KEY, hostname TEXT NOT NULL, mac TEXT "
               "NOT NULL, token_hash TEXT NOT NULL UNIQUE, method TEXT NOT NULL, state TEXT NOT "
               "NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, finished_at REAL, log TEXT)")
    Store(tmp_path / "old.db")
    assert "boot_addr" in {r[1] for r in db.execute("PRAGMA table_info(installs)")}
