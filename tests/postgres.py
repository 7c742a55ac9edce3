"""A throwaway PostgreSQL server and per-test databases, for any test that needs one.

The server is ``benchmarks/pgcluster.py``'s throwaway cluster (initdb + pg_ctl
in a temp dir, run as the ``postgres`` user when the tests run as root, only a
unix socket), one per session. Each test gets its own database. If the server
cannot start, the PostgreSQL half skips with the reason, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from benchmarks import pgcluster
from corral.audit import open_store


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL test server unavailable under CI: {reason}")
    pytest.skip(f"PostgreSQL test server unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_server():
    """URL of a running throwaway PostgreSQL server (admin database ``postgres``)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[dev,postgres]')")
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(pgcluster.cluster("max_connections=200"))
        except pgcluster.Unavailable as exc:
            _unavailable(str(exc))
        yield url


@dataclass
class Backend:
    """One store location plus raw SQL access to it, for tampering as an attacker would."""

    name: str
    target: str
    raw_connect: Any

    def open(self, host_id: str = "host-a", **kwargs: Any):
        return open_store(self.target, host_id=host_id, **kwargs)

    def raw(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run SQL directly on the database, outside corral (``?`` placeholders)."""
        conn = self.raw_connect()
        try:
            if self.name == "postgresql":
                cur = conn.execute(sql.replace("?", "%s"), params)
                rows = cur.fetchall() if cur.description else []
            else:
                rows = conn.execute(sql, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()


@pytest.fixture
def postgresql_backend(pg_server):
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    url = pgcluster.create_database(pg_server, name)
    yield Backend("postgresql", url, lambda: psycopg.connect(url))
    with psycopg.connect(pg_server, autocommit=True) as admin, contextlib.suppress(Exception):
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
