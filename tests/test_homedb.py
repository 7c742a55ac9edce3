"""The shared way into a home's corral.db: WAL, one transaction per connection, rows by name."""

from __future__ import annotations

import sqlite3

import pytest

from corral import homedb

SCHEMA = "CREATE TABLE IF NOT EXISTS things (name TEXT PRIMARY KEY, n INTEGER NOT NULL);"


def test_open_tables_makes_the_directory_and_the_tables_in_wal_mode(tmp_path):
    db = homedb.open_tables(tmp_path / "new" / "home" / "corral.db", SCHEMA)
    assert db.is_file()
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT count(*) FROM things").fetchone()[0] == 0
    finally:
        raw.close()


def test_open_tables_again_keeps_what_is_stored(tmp_path):
    db = homedb.open_tables(tmp_path / "corral.db", SCHEMA)
    with homedb.connect(db) as conn:
        conn.execute("INSERT INTO things VALUES ('a', 1)")
    homedb.open_tables(db, SCHEMA)
    with homedb.connect(db) as conn:
        row = conn.execute("SELECT name, n FROM things").fetchone()
    assert (row["name"], row["n"]) == ("a", 1)


def test_a_failed_operation_stores_nothing_and_a_finished_one_is_seen_elsewhere(tmp_path):
    db = homedb.open_tables(tmp_path / "corral.db", SCHEMA)
    with pytest.raises(RuntimeError), homedb.connect(db) as conn:
        conn.execute("INSERT INTO things VALUES ('half', 1)")
        raise RuntimeError("the operation failed half way")
    with homedb.connect(db) as conn:
        conn.execute("INSERT INTO things VALUES ('whole', 2)")
    raw = sqlite3.connect(db)  # another connection, as another process would read it
    try:
        assert raw.execute("SELECT name FROM things").fetchall() == [("whole",)]
    finally:
        raw.close()
