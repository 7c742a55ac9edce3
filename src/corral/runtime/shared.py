"""Where vulnerability reports and security reviews live: beside the lifecycle state.

A critical report recorded on one machine has to disable the plugin on every
host, and a review recorded on one machine has to let every host load the
version, so these rows follow the lifecycle state: into the PostgreSQL
database of the home's audit log when there is one, else the home's
``corral.db``. The stores (``corral.vetting.vulns``, ``corral.trust.reviews``)
sit in a lower layer and only know :class:`corral.homedb.Tables`; this module
supplies the PostgreSQL variant and chooses, from the very target
:func:`corral.runtime.lifecycle.lifecycle_target` returns, so the two cannot
disagree.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from corral.audit.factory import describe as _describe_url
from corral.audit.postgres import connect as connect_postgres
from corral.errors import HostError
from corral.homedb import Row, Run, SqliteTables, Tables
from corral.trust import ReviewStore
from corral.vetting.vulns import VulnStore

_PG = ("postgresql://", "postgres://")
_SCHEMA_LOCK = 0x636F72727368  # one advisory lock id for creating these tables


class PostgresTables(Tables):
    """Tables in the PostgreSQL database the home's audit log and lifecycle state use.

    A connection per transaction, as the SQLite variant: reads are rare (a
    load, a check, a CLI command, a dashboard page) and come from many
    threads. DDL runs under an advisory lock, because two hosts starting at
    once would otherwise race ``CREATE TABLE IF NOT EXISTS`` into an error.
    """

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> str:
        return _describe_url(self.url)

    def _connect(self) -> Any:
        return connect_postgres(
            self.url,
            needs="shared state on PostgreSQL needs psycopg",
            cannot=f"cannot connect to PostgreSQL at {self.describe()}",
            error=HostError,
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Run]:
        import psycopg
        from psycopg.rows import dict_row

        conn = self._connect()
        try:
            cursor = conn.cursor(row_factory=dict_row)

            def run(sql: str, params: Sequence[Any]) -> list[Row]:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                return list(cursor.fetchall()) if cursor.description else []

            try:
                with conn.transaction():
                    yield run
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise HostError(f"PostgreSQL at {self.describe()}: {first}") from None
        finally:
            conn.close()

    def create(self, schema: str) -> None:
        with self.transaction() as run:
            run(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})", ())
            for statement in schema.format(real="DOUBLE PRECISION").split(";"):
                if statement.strip():
                    run(statement, ())


def shared_tables(target: str | os.PathLike[str]) -> Tables:
    """The tables on a ``postgresql://`` URL or a SQLite path (a lifecycle target)."""
    text = os.fspath(target)
    if text.startswith(_PG):
        return PostgresTables(text)
    return SqliteTables(text)


def open_vulns(
    target: str | os.PathLike[str],
    *,
    host_id: str = "",
    clock: Callable[[], float] = time.time,
) -> VulnStore:
    """The vulnerability reports of the home whose lifecycle target is ``target``."""
    return VulnStore(shared_tables(target), host_id=host_id, clock=clock)


def open_reviews(
    target: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
) -> ReviewStore:
    """The security reviews of the home whose lifecycle target is ``target``."""
    return ReviewStore(shared_tables(target), clock=clock)
