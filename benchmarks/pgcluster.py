"""A throwaway PostgreSQL cluster for a benchmark: initdb + pg_ctl in a temp dir, unix socket.

The same recipe as the tests' server (tests/postgres.py), without pytest: run
as the ``postgres`` user when we are root (PostgreSQL refuses root), listening
on no TCP port. ``CORRAL_BENCH_PG`` names an existing server instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Unavailable(RuntimeError):
    """No PostgreSQL to measure on; the figure is skipped with this reason."""


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise Unavailable(f"{name} not found (apt-get install postgresql)")
    return found[-1]


@contextmanager
def database() -> Iterator[str]:
    """A URL of a fresh, empty database, dropped (with its cluster) afterwards."""
    if url := os.environ.get("CORRAL_BENCH_PG"):
        yield url
        return
    import psycopg

    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="corral-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    options = f"-k {root} -p 5432 -c listen_addresses='' -c fsync=off"
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
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"cannot start PostgreSQL: {exc}") from exc
    try:
        name = "bench_" + uuid.uuid4().hex[:8]
        admin_url = f"postgresql://postgres@/postgres?host={root}&port=5432"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        yield admin_url.replace("/postgres?", f"/{name}?")
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
