"""The embedded default: the audit tables in ``$CORRAL_HOME/corral.db`` (SQLite, WAL).

WAL lets readers (``corral audit query`` in another process, the dashboard)
run while the host appends. ``synchronous=FULL`` makes each commit fsync the
WAL, so an acknowledged event survives a power cut, not only a killed
process; group commit pays that fsync once per batch, not once per event.
``BEGIN IMMEDIATE`` takes the write lock before the head is read, so two
processes appending for one host id cannot both extend the same head.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from corral.audit.store import SqlStore
from corral.errors import AuditError

_BUSY_SECONDS = 30.0


class SqliteStore(SqlStore):
    """The audit store in one SQLite file (tables ``audit_*``; the file is shared)."""

    name = "sqlite"
    _db_errors = (sqlite3.Error,)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        host_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"cannot create the directory for {self.path}: {exc}") from None
        super().__init__(host_id=host_id, clock=clock)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise AuditError(f"cannot open audit database {self.path}: {exc}") from None
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _exec(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(conn.execute(sql, tuple(params)).fetchall())

    def _execmany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        conn.executemany(sql, rows)
