"""Opening tables in a home's ``corral.db``: the one recipe the small SQLite stores share.

Trust (pins, reviews), vetting (cache, vulnerability reports and cycle) and the
dashboard's accounts each keep a few tables in the same file as the audit log
and the lifecycle state. They share one way in: WAL, so readers in other
processes (the CLI, the dashboard) run while a host writes; a 30 s busy
timeout, since several hosts and commands write the same file; and a short
connection per operation, one transaction each, so no connection is held
across threads. The audit and lifecycle stores keep their own connections
(long-lived readers, ``BEGIN IMMEDIATE``), because they need more than this.

Vulnerability reports and security reviews speak to :class:`Tables`
instead, so that they can live in PostgreSQL when a home's hosts share one
(``corral.runtime.shared`` supplies that backend and chooses between the two).

It sits in the lowest layer so that every layer's store may use it; it
imports nothing of corral's.
"""

from __future__ import annotations

import abc
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

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


Row = dict[str, Any]
Run = Callable[[str, Sequence[Any]], list[Row]]
"""Execute one statement (``?`` placeholders) in the current transaction; rows by name."""


class Tables(abc.ABC):
    """Where a store shared across machines keeps its rows: this file, or a PostgreSQL database.

    Vulnerability reports and reviews are written on one machine and obeyed on
    every host that shares the home's audit database, so their stores speak
    to this interface and not to SQLite. A schema is written once for both
    dialects, with ``{real}`` where a timestamp column's type goes (SQLite's
    ``REAL``; PostgreSQL's ``real`` is only single precision).
    """

    kind: str = ""

    @abc.abstractmethod
    def create(self, schema: str) -> None:
        """Run ``schema`` (idempotent DDL, ``;``-separated) safely against racing creators."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[Run]:
        """One transaction on one short connection: committed on success, always closed."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the rows are, for messages (a PostgreSQL URL without its password)."""


class SqliteTables(Tables):
    """Tables in a SQLite file, opened as :func:`open_tables` and :func:`connect` do."""

    kind = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def create(self, schema: str) -> None:
        self.path = open_tables(self.path, schema.format(real="REAL"))

    @contextmanager
    def transaction(self) -> Iterator[Run]:
        with connect(self.path) as conn:

            def run(sql: str, params: Sequence[Any]) -> list[Row]:
                return [dict(r) for r in conn.execute(sql, tuple(params)).fetchall()]

            yield run

    def describe(self) -> str:
        return str(self.path)
