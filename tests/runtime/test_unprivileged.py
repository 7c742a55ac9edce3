"""The pen works for an ordinary user too: unprivileged user namespaces, no cgroups.

When the suite runs as root, these tests start ``corral run`` as uid 65534, so
the unprivileged path (user namespace first, rlimit fallbacks) is exercised
with the interpreter ``make test`` uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.pen
NOBODY = 65534


@pytest.fixture
def nobody_home():
    """A home for uid 65534 that it can reach (pytest's tmp dirs are 0700 root)."""
    home = Path(tempfile.mkdtemp(prefix="corral-nobody-", dir="/var/tmp"))
    os.chown(home, NOBODY, NOBODY)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def corral_run(home: Path, *argv: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "CORRAL_HOME": str(home / "corral")}
    proc = subprocess.run(
        [sys.executable, "-m", "corral.cli", "run", *argv, "--json"],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the whole suite covers this path")


def test_allow_ordinary_user_runs_a_plugin(nobody_home, plugin_dir):
    out = corral_run(nobody_home, str(plugin_dir("good")), "whoami")
    assert out["ok"], out
    assert out["result"]["pid"] == 1


def test_deny_ordinary_user_pen_reads_outside(nobody_home, plugin_dir, outside):
    secret = str(outside / "secret.txt")
    for how in ("read_open", "read_ctypes"):
        out = corral_run(
            nobody_home,
            str(plugin_dir("fixtures/malicious_plugin")),
            how,
            "--args",
            json.dumps([secret]),
        )
        assert not out["ok"]
        assert "TOPSECRET" not in json.dumps(out)


def test_deny_ordinary_user_pen_writes_outside(nobody_home, plugin_dir, outside):
    outside.chmod(0o777)  # writable by the user: only the pen may stop it
    target = outside / "pwned"
    out = corral_run(
        nobody_home,
        str(plugin_dir("fixtures/malicious_plugin")),
        "write_ctypes",
        "--args",
        json.dumps([str(target)]),
    )
    assert not out["ok"]
    assert not target.exists()
