"""The audit tables in PostgreSQL, for hosts that outgrow one machine (DESIGN.md).

Many hosts append to one database; each host's chain has its own head row,
locked with ``SELECT ... FOR UPDATE`` for the length of one batch, so hosts
never wait on each other's appends. ``details`` is kept as text, not
``jsonb``: jsonb reorders keys and normalises numbers, and the chain hash
must be recomputable from exactly what was stored.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from corral.audit.store import SqlStore
from corral.errors import AuditError

_SCHEMA_LOCK = 0x636F7272616C  # "corral": one advisory lock id for schema creation


class PostgresStore(SqlStore):
    """The audit store in a PostgreSQL database (psycopg 3, the ``postgres`` extra)."""

    name = "postgresql"
    _for_update = " FOR UPDATE"
    _schema_lock = f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})"

    def __init__(self, url: str, *, host_id: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        super().__init__(host_id=host_id, clock=clock)

    @property
    def _db_errors(self) -> tuple[type[Exception], ...]:  # type: ignore[override]
        import psycopg

        return (psycopg.Error,)

    def _connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise AuditError(
                "the PostgreSQL audit store needs psycopg: pip install 'corral[postgres]'"
            ) from None
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AuditError(f"cannot connect to the PostgreSQL audit store: {first}") from None

    @contextlib.contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        with conn.transaction():
            yield

    def _exec(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = conn.execute(sql.replace("?", "%s"), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def _execmany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)
