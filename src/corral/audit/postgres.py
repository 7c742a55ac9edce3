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



def connect(url: str, *, needs: str, cannot: str, error: type[Exception]) -> Any:
    """An autocommit psycopg connection (10 s timeout), or ``error`` in one line.

    Every PostgreSQL store of corral's (audit, lifecycle, shared reports) connects
    this way, so a missing driver or an unreachable server reads the same in each,
    with no password and no traceback.
    """
    try:
        import psycopg
    except ImportError:
        raise error(f"{needs}: pip install 'corral[postgres]'") from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"{cannot}: {first}") from None

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
        return connect(
            self.url,
            needs="the PostgreSQL audit store needs psycopg",
            cannot="cannot connect to the PostgreSQL audit store",
            error=AuditError,
        )

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
