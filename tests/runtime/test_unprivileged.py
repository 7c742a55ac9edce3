"""The pen works for an ordinary user too: unprivileged user namespaces, no cgroups.

When the suite runs as root, these tests start a host as uid 65534, so the
unprivileged path (user namespace first, rlimit fallbacks) is exercised with
the interpreter ``make test`` uses. The host runs in a small driver that
honours ``CORRAL_SABOTAGE`` like the rest of the suite (scripts/sabotage.py):
without root the user namespace is what makes every other namespace possible,
so switching it off must refuse the pen, never run it half-confined. One test
goes through ``corral run`` itself, which has no sabotage switch.
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

from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
NOBODY = 65534

DRIVER = """
import json, sys
from pathlib import Path
import corral

plugin, steps, off = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
outcomes = []
try:
    with corral.Host(unsafe_disable_layers=off) as host:
        handle = host.load(plugin)
        for kind, *rest in steps:
            if kind == "host-writes":  # the host acting on its own files meanwhile
                Path(rest[0]).write_text("written by the host")
                continue
            try:
                outcomes.append({"ok": True, "result": handle.call(rest[0], *rest[1])})
            except corral.CorralError as exc:
                outcomes.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
except corral.CorralError as exc:
    calls = [step for step in steps if step[0] == "call"]
    outcomes = [{"ok": False, "error": f"{type(exc).__name__}: {exc}"}] * len(calls)
print(json.dumps(outcomes))
"""


@pytest.fixture
def nobody_home():
    """A home for uid 65534 that it can reach (pytest's tmp dirs are 0700 root)."""
    home = Path(tempfile.mkdtemp(prefix="corral-nobody-", dir="/var/tmp"))
    os.chown(home, NOBODY, NOBODY)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def as_nobody(home: Path, argv: list[str]) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "CORRAL_HOME": str(home / "corral")}
    proc = subprocess.run(
        [sys.executable, *argv],
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
    return proc.stdout.strip().splitlines()[-1]


def session(home: Path, plugin: Path, *steps: list) -> list[dict]:
    """Load ``plugin`` in a host run by uid 65534 and run ``steps``: one outcome per call."""
    off = sorted(SABOTAGE)
    argv = ["-c", DRIVER, str(plugin), json.dumps(steps), json.dumps(off)]
    return json.loads(as_nobody(home, argv))


def call(home: Path, plugin: Path, name: str, *args: object) -> dict:
    return session(home, plugin, ["call", name, list(args)])[0]


@pytest.fixture(autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: the whole suite covers this path")


def test_allow_ordinary_user_runs_a_plugin(nobody_home, plugin_dir):
    out = call(nobody_home, plugin_dir("good"), "whoami")
    assert out["ok"], out
    assert out["result"]["pid"] == 1


def test_allow_ordinary_user_runs_a_plugin_through_the_cli(nobody_home, plugin_dir):
    argv = ["-m", "corral.cli", "run", str(plugin_dir("good")), "whoami", "--json"]
    out = json.loads(as_nobody(nobody_home, argv))
    assert out["ok"], out
    assert out["result"]["pid"] == 1


@pytest.mark.parametrize("how", ["read_open", "read_ctypes"])
def test_deny_ordinary_user_pen_reads_outside(nobody_home, plugin_dir, outside, how):
    secret = str(outside / "secret.txt")
    out = call(nobody_home, plugin_dir("fixtures/malicious_plugin"), how, secret)
    assert not out["ok"]
    assert "TOPSECRET" not in json.dumps(out)


def test_deny_ordinary_user_pen_writes_outside(nobody_home, plugin_dir, outside):
    outside.chmod(0o777)  # writable by the user: only the pen may stop it
    target = outside / "pwned"
    out = call(nobody_home, plugin_dir("fixtures/malicious_plugin"), "write_ctypes", str(target))
    assert not out["ok"]
    assert not target.exists()


def test_deny_ordinary_user_pen_watches_outside(nobody_home, plugin_dir, outside):
    outside.chmod(0o777)  # the host (uid 65534 here) works in it while the pen watches
    started, seen = session(
        nobody_home,
        plugin_dir("fixtures/malicious_plugin"),
        ["call", "watch_start", [str(outside)]],
        ["host-writes", str(outside / "host-private-name")],
        ["call", "watch_events", []],
    )
    assert "host-private-name" not in json.dumps(seen)
    assert not started["ok"]
