"""Opening tables in a home's ``corral.db``: the one recipe the small SQLite stores share.

Trust (pins, reviews), vetting (cache, vulnerability reports and cycle) and the
dashboard's accounts each keep a few tables in the same file as the audit log
and the lifecycle state. They share one way in: WAL, so readers in other
processes (the CLI, the dashboard) run while a host writes; a 30 s busy
timeout, since several hosts and commands write the same file; and a short
connection per operation, one transaction each, so no connection is held
across threads. The audit and lifecycle stores keep their own connections
(long-lived readers, ``BEGIN IMMEDIATE``), because they need more than this.

It sits in the lowest layer so that every layer's store may use it; it
imports nothing of corral's.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_SECONDS = 30.0


def open_tables(path: str | os.PathLike[str], schema: str) -> Path:
    """Create the file's directory and ``schema`` (idempotent DDL) in WAL mode; the path."""
    db = Path(path)
    db.parent.mkdir(parents=True, exist_ok=True)
    with connect(db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(schema)
    return db


@contextmanager
def connect(path: str | os.PathLike[str]) -> Iterator[sqlite3.Connection]:
    """One connection for one operation: rows by name, committed on success, always closed."""
    conn = sqlite3.connect(path, timeout=BUSY_SECONDS)
    conn.row_factory = sqlite3.Row
    try:
        with conn:
            yield conn
    finally:
        conn.close()
