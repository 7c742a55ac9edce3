"""``corral serve``, run as the operator runs it: a separate process against a home."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

from corral.audit import open_store
from corral.dashboard import Accounts


def cli(*argv: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.cli", "serve", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
        **kw,
    )


def test_add_admin_stores_a_scrypt_hash_not_the_password(tmp_path):
    done = cli(
        "--home",
        str(tmp_path),
        "--add-admin",
        "alice",
        env={"CORRAL_ADMIN_PASSWORD": "a long enough secret"},
    )
    assert done.returncode == 0, done.stderr
    raw = (tmp_path / "corral.db").read_bytes()
    assert b"a long enough secret" not in raw
    assert b"scrypt$" in raw
    accounts = Accounts(tmp_path / "corral.db")
    assert accounts.authenticate("alice", "a long enough secret").role == "admin"
    assert accounts.authenticate("alice", "a long enough secreT") is None


def test_add_admin_reads_the_password_from_a_prompt_and_can_be_read_only(tmp_path):
    done = cli(
        "--home",
        str(tmp_path),
        "--add-admin",
        "rita",
        "--read-only",
        input="prompted password!\nprompted password!\n",
    )
    assert done.returncode == 0, done.stderr
    assert Accounts(tmp_path / "corral.db").get("rita").role == "read-only"


def test_a_short_password_is_refused_without_a_traceback(tmp_path):
    done = cli(
        "--home", str(tmp_path), "--add-admin", "bob", env={"CORRAL_ADMIN_PASSWORD": "short"}
    )
    assert done.returncode == 1
    assert "password too short" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wide_bind_is_refused_without_bind_any(tmp_path):
    open_store(tmp_path / "corral.db").close()
    done = cli("--home", str(tmp_path), "--host", "0.0.0.0")
    assert done.returncode == 1
    assert "--bind-any" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_home_without_a_log_is_an_error(tmp_path):
    done = cli("--home", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert "no corral home" in done.stderr


def test_serve_answers_on_loopback(tmp_path):
    open_store(tmp_path / "corral.db").close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.cli", "serve", "--home", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    assert r.status == 200
                    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "corral serve did not answer"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
