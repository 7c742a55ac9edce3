"""A throwaway PostgreSQL cluster: initdb + pg_ctl in a temp dir, unix socket only.

One recipe for the benchmarks (``database``) and the tests (``tests/postgres.py``
wraps ``cluster`` in its session fixture): run as the ``postgres`` user when we
are root (PostgreSQL refuses root), listening on no TCP port, in a directory
removed afterwards. A cluster that cannot start raises ``Unavailable``; what
that means is the caller's rule (a skipped figure here, a failed test under CI).
``CORRAL_BENCH_PG`` names an existing server for the benchmarks instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Unavailable(RuntimeError):
    """No PostgreSQL server could be started; the message says why."""


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise Unavailable(f"{name} not found (make postgres installs postgresql)")
    return found[-1]


def _free_port() -> int:
    """A port number no one uses: it names the socket file, and PostgreSQL derives its
    shared memory key from it, so distinct clusters do not start by colliding."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cluster(*settings: str, prefix: str = "corral-pg-") -> Iterator[str]:
    """The admin URL (database ``postgres``) of a fresh cluster, stopped and removed after.

    ``settings`` are extra ``name=value`` server settings (``fsync=off``,
    ``max_connections=200``).
    """
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix=prefix))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    options = " ".join(
        [f"-k {root} -p {port} -c listen_addresses=''", *(f"-c {s}" for s in settings)]
    )
    init = [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
    start = [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o", options]
    try:
        subprocess.run([*as_postgres, *init], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_postgres, *start, "start"], check=True, capture_output=True, timeout=90)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-500:]
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"cannot start PostgreSQL: {exc} {detail}".rstrip()) from exc
    try:
        yield f"postgresql://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """Create the empty database ``name``; its URL on the same server."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return admin_url.replace("/postgres?", f"/{name}?")


@contextmanager
def database() -> Iterator[str]:
    """A URL of a fresh, empty database, dropped (with its cluster) afterwards."""
    if url := os.environ.get("CORRAL_BENCH_PG"):
        yield url
        return
    with cluster("fsync=off", prefix="corral-bench-pg-") as admin_url:
        yield create_database(admin_url, "bench_" + uuid.uuid4().hex[:8])
