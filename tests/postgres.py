"""A throwaway PostgreSQL server and per-test databases, for any test that needs one.

The server is a real throwaway cluster: initdb + pg_ctl in a temp dir, owned
by and run as the ``postgres`` system user when the tests run as root
(postgres refuses to run as root), listening only on a unix socket in that
dir. Each test gets its own database. If the server cannot start, the
PostgreSQL half skips with the reason, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corral.audit import open_store


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL test server unavailable under CI: {reason}")
    pytest.skip(f"PostgreSQL test server unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_server():
    """URL of a running throwaway PostgreSQL server (admin database ``postgres``)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _unavailable("initdb/pg_ctl not found (make test installs postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[dev,postgres]')")
    root = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    options = f"-k {root} -p {port} -c listen_addresses='' -c max_connections=200"
    try:
        subprocess.run(
            [
                *prefix,
                initdb,
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"{exc} {detail.decode(errors='replace')[-500:]}")
    try:
        yield f"postgresql://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


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
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = pg_server.replace("/postgres?", f"/{name}?")
    yield Backend("postgresql", url, lambda: psycopg.connect(url))
    with psycopg.connect(pg_server, autocommit=True) as admin, contextlib.suppress(Exception):
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
