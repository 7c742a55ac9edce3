"""``corral plugins``: an operator in one process drives a host running in another.

The host runs in this test's process; every CLI command is a separate
``python -m corral`` process. Each state test runs twice: on SQLite (CLI and
host share a home's ``corral.db``) and on a real PostgreSQL (the CLI has a
home of its own, as on another machine; only the database is shared). The
hosts' monitor round is an hour, so only the per-call check (SQLite) or the
LISTEN thread (PostgreSQL) can make a host obey.
"""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

import corral
from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
MONITORED = PLUGINS / "fixtures" / "monitored"
GOOD = PLUGINS / "good"
QUIET = "monitoring:\n  interval_seconds: 3600\n"


def cli(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral", *argv, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(*argv: str, home: Path) -> dict:
    proc = cli(*argv, "--json", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] is True
    return data


def _home() -> Path:
    root = Path(tempfile.mkdtemp(prefix="corral-home-", dir="/var/tmp"))
    root.chmod(0o711)  # a pen's uid must be able to search it
    return root


@dataclass
class Shared:
    """Where the host keeps its home, and where the operator's CLI runs from."""

    store: str
    host_home: Path
    cli_home: Path

    def host(self) -> corral.Host:
        return corral.Host(home=self.host_home, unsafe_disable_layers=SABOTAGE)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request):
    host_home = _home()
    if request.param == "sqlite":
        (host_home / "policy.yaml").write_text(QUIET)
        yield Shared("sqlite", host_home, host_home)
    else:
        url = request.getfixturevalue("postgresql_backend").target
        cli_home = _home()
        for home in (host_home, cli_home):
            (home / "policy.yaml").write_text(f"{QUIET}audit: '{url}'\n")
        yield Shared("postgresql", host_home, cli_home)
        shutil.rmtree(cli_home, ignore_errors=True)
    shutil.rmtree(host_home, ignore_errors=True)


def obeyed(shared: Shared, plugin: corral.PluginHandle, state: str) -> None:
    """On PostgreSQL, wait (at most 2 s) for the listener to apply ``state``; never on SQLite."""
    if shared.store == "sqlite":
        return  # the next call itself must see it
    deadline = time.monotonic() + 2.0
    while plugin.admin_state != state and time.monotonic() < deadline:
        time.sleep(0.02)
    assert plugin.admin_state == state, f"the host did not adopt {state} within 2 s"


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_suspend_from_the_cli_refuses_the_hosts_next_call_and_resume_releases_it(shared):
    with shared.host() as host:
        plugin = host.load(MONITORED)
        assert plugin.call("echo", 1) == 1
        done = ok(
            "plugins", "suspend", "monitored", "--reason", "incident 42", home=shared.cli_home
        )
        assert done["state"] == "suspended"
        obeyed(shared, plugin, "suspended")
        with pytest.raises(corral.PluginSuspended, match="'monitored' is suspended"):
            plugin.call("echo", 2)
        ok("plugins", "resume", "monitored", home=shared.cli_home)
        obeyed(shared, plugin, "active")
        assert plugin.call("echo", 3) == 3
    events = corral.HomeAdmin(shared.cli_home).events("monitored")
    by_cli = [e for e in events if e.kind == "plugin.state" and e.details.get("by") == "cli"]
    assert [(e.details["state"], e.details["user"]) for e in by_cli] == [
        ("suspended", getpass.getuser()),
        ("loaded", getpass.getuser()),
    ]
    assert by_cli[0].details["reason"] == "incident 42"


def test_a_disable_from_the_cli_kills_the_hosts_workers(shared):
    with shared.host() as host:
        plugin = host.load(MONITORED)
        (worker,) = plugin.pen_workers()
        ok("plugins", "disable", "monitored", "--reason", "compromised", home=shared.cli_home)
        obeyed(shared, plugin, "disabled")
        with pytest.raises(corral.PluginSuspended, match="is disabled"):
            plugin.call("echo", 1)
        assert _gone(worker.pid)
        listed = ok("plugins", "list", home=shared.cli_home)["plugins"]
        assert [(r["plugin"], r["state"], r["state_reason"]) for r in listed] == [
            ("monitored", "disabled", "compromised")
        ]
        ok("plugins", "enable", "monitored", home=shared.cli_home)
        obeyed(shared, plugin, "active")
        assert plugin.call("echo", 4) == 4


def test_the_old_top_level_verbs_still_work(shared):
    with shared.host() as host:
        plugin = host.load(MONITORED)
        assert cli("suspend", "monitored", home=shared.cli_home).returncode == 0
        obeyed(shared, plugin, "suspended")
        with pytest.raises(corral.PluginSuspended):
            plugin.call("echo", 1)
        assert cli("resume", "monitored", home=shared.cli_home).returncode == 0


def _upgrade(source: Path, version: str, permission: str) -> None:
    manifest = source / "plugin.yaml"
    text = manifest.read_text().replace("version: 1.0.0", f"version: {version}")
    manifest.write_text(text.replace("permissions:\n", f"permissions:\n  - {permission}\n"))


def test_a_refused_upgrade_does_not_load_until_approved(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Oslo")
    source = tmp_path / "good"
    shutil.copytree(GOOD, source)
    manifest = source / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("  - env:read=TZ\n", ""))
    with shared.host() as host:
        assert host.load(source).call("env")["TZ"] is None  # 1.0.0 approved by loading it
    _upgrade(source, "1.1.0", "env:read=TZ")
    with shared.host() as host:
        host.load(source)  # runs without the new permission; the request waits
    shown = ok("plugins", "show", "good-notes", home=shared.cli_home)
    assert shown["awaiting_approval"] == "1.1.0"
    assert ["env:read=TZ", "awaiting approval (new in 1.1.0)"] in shown["dropped"]
    refused = ok("plugins", "refuse", "good-notes", "--reason", "no tz", home=shared.cli_home)
    assert refused["refused"] == ["env:read=TZ"]
    with shared.host() as host:
        with pytest.raises(corral.HostError) as caught:
            host.load(source)
        assert "corral plugins approve good-notes --version 1.1.0" in str(caught.value)
        assert "refused" in str(caught.value) and "env:read=TZ" in str(caught.value)
        assert not host.plugins()
    ok("plugins", "approve", "good-notes", "--version", "1.1.0", home=shared.cli_home)
    with shared.host() as host:
        assert host.load(source).call("env")["TZ"] == "Europe/Oslo"
    events = corral.HomeAdmin(shared.cli_home).events("good-notes")
    decided = [e.details["state"] for e in events if e.details.get("by") == "cli"]
    assert decided == ["refused", "approved"]
    assert any(e.kind == "plugin.refused" and "refused" in e.details["error"] for e in events)


def test_refuse_without_a_request_is_one_clear_line(shared):
    with shared.host() as host:
        host.load(MONITORED)
    proc = cli("plugins", "refuse", "monitored", home=shared.cli_home)
    assert proc.returncode == 1 and "no request awaiting approval" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_install_list_show_and_uninstall(tmp_path):
    home = _home()
    try:
        installed = ok("plugins", "install", str(GOOD), home=home)
        assert (installed["plugin"], installed["version"], installed["tier"]) == (
            "good-notes",
            "1.0.0",
            "community",
        )
        assert installed["signed"] is False and installed["awaiting_approval"] is None
        assert (home / "store" / installed["digest"] / "plugin.yaml").is_file()
        (row,) = ok("plugins", "list", home=home)["plugins"]
        assert row["plugin"] == "good-notes" and row["version"] == "1.0.0"
        assert (row["tier"], row["state"], row["signature"]) == ("community", "active", "unsigned")
        assert isinstance(row["vulnerability_score"], int) and row["last_violation"] is None
        shown = ok("plugins", "show", "good-notes", home=home)
        assert shown["manifest"]["entry"] == "notes:Notes"
        assert set(shown["requested"]) == {
            "file:read=data/**",
            "file:write=$WORK/**",
            "env:read=TZ",
        }
        assert set(shown["granted"]) == set(shown["requested"])
        text = cli("plugins", home=home)
        assert text.returncode == 0 and "good-notes" in text.stdout and "unsigned" in text.stdout
        assert "good-notes" in cli("plugins", "show", "good-notes", home=home).stdout

        removed = ok("plugins", "uninstall", "good-notes", home=home)
        assert removed["removed"] == [installed["digest"]]
        assert not (home / "store" / installed["digest"]).exists()
        (row,) = ok("plugins", "list", home=home)["plugins"]
        assert (row["state"], row["state_reason"]) == ("disabled", "uninstalled")
        with corral.Host(home=home, unsafe_disable_layers=SABOTAGE) as host:
            assert host.load(GOOD).state == "disabled"  # a host cannot bring it back by itself
        ok("plugins", "install", str(GOOD), home=home)
        (row,) = ok("plugins", "list", home=home)["plugins"]
        assert row["state"] == "active"
        admin = [e for e in corral.HomeAdmin(home).events("good-notes") if e.kind == "admin"]
        assert [(e.details["action"], e.details["user"]) for e in admin] == [
            ("install", getpass.getuser()),
            ("uninstall", getpass.getuser()),
            ("install", getpass.getuser()),
        ]
        missing = cli("plugins", "uninstall", "good-notes", "--version", "9.9.9", home=home)
        assert missing.returncode == 1 and "is not installed" in missing.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_install_refuses_what_a_load_would_refuse(tmp_path):
    home = _home()
    try:
        broken = tmp_path / "broken"
        shutil.copytree(GOOD, broken)
        (broken / "__pycache__").mkdir()
        (broken / "__pycache__" / "notes.cpython-311.pyc").write_bytes(b"\0" * 16)
        proc = cli("plugins", "install", str(broken), "--json", home=home)
        assert proc.returncode == 1
        assert json.loads(proc.stdout)["ok"] is False
        assert not (home / "store").exists() or not any((home / "store").iterdir())
    finally:
        shutil.rmtree(home, ignore_errors=True)
