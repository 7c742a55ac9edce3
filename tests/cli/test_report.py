"""``corral report`` and the lifecycle verbs, run as a separate process against a real home.

A host runs a plugin that misbehaves (denials, a disk breach), closes, and the
CLI, another process, reads the same home: the report must show what the host
recorded, and a state the CLI stores must bind the next host.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import corral
from corral.policy import AdminPolicy
from tests._net import Web
from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
MONITORED = PLUGINS / "fixtures" / "monitored"
GUARDED = "guard" not in SABOTAGE


def cli(*argv: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corral.cli", *argv, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def home():
    root = Path(tempfile.mkdtemp(prefix="corral-home-", dir="/var/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def used_home(home):
    """A home whose host ran the monitored plugin: two denials and a disk breach."""
    policy = AdminPolicy.from_dict({"monitoring": {"interval_seconds": 3600}})
    with corral.Host(home=home, policy=policy, unsafe_disable_layers=SABOTAGE) as host:
        plugin = host.load(MONITORED)
        assert plugin.call("echo", 1) == 1
        for _ in range(2):
            with pytest.raises(corral.PermissionDenied):
                plugin.call("deny_file")
        for i in range(3):
            plugin.call("fill", f"f{i}.bin", 1024)
        host.monitor.tick()
    return home


def test_report_json_shows_grant_usage_violations_and_responses(used_home):
    proc = cli("report", "monitored", "--json", home=used_home)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] and data["plugin"] == "monitored" and data["version"] == "1.0.0"
    assert data["state"] == "active"
    assert data["grant"]["tier"] == "community"
    assert "file:write=$WORK/**" in data["grant"]["permissions"]
    assert data["usage"]["calls"] == 4  # echo + three fills
    assert data["usage"]["monitor_peaks"]["disk_mb"] >= 3
    expected = {"resource": 1, **({"filesystem": 2} if GUARDED else {})}
    assert data["violations"] == expected
    assert [r["action"] for r in data["responses"]] == ["warn"] * sum(expected.values())
    assert data["limit_breaches"] == 1
    for key in ("signature", "vulnerability"):  # unsigned, and no report filed
        assert data[key] == "not recorded"
    assert data["vetting"]  # Host.load vets every plugin and records each finding


def test_report_text_is_for_people(used_home):
    proc = cli("report", "monitored", home=used_home)
    assert proc.returncode == 0, proc.stderr
    assert "monitored" in proc.stdout and "tier community" in proc.stdout
    assert "resource 1" in proc.stdout and "signature: not recorded" in proc.stdout


def test_unknown_plugin_is_one_line_and_exit_1(home):
    proc = cli("report", "nobody", home=home)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "unknown plugin 'nobody'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_suspend_binds_the_next_host_and_resume_releases(used_home):
    assert cli("suspend", "monitored", "--reason", "review", home=used_home).returncode == 0
    listed = json.loads(cli("plugins", "--json", home=used_home).stdout)["plugins"]
    keys = ("plugin", "state", "state_reason", "approved_version", "awaiting_approval")
    assert [{k: row[k] for k in keys} for row in listed] == [
        {
            "plugin": "monitored",
            "state": "suspended",
            "state_reason": "review",
            "approved_version": "1.0.0",
            "awaiting_approval": None,
        }
    ]
    again = cli("suspend", "monitored", home=used_home)
    assert again.returncode == 1 and "it is suspended" in again.stderr
    with corral.Host(home=used_home, unsafe_disable_layers=SABOTAGE) as host:
        plugin = host.load(MONITORED)
        with pytest.raises(corral.PluginSuspended):
            plugin.call("echo", 1)
    assert cli("resume", "monitored", home=used_home).returncode == 0
    with corral.Host(home=used_home, unsafe_disable_layers=SABOTAGE) as host:
        assert host.load(MONITORED).call("echo", 2) == 2
    report = json.loads(cli("report", "monitored", "--json", home=used_home).stdout)
    assert report["state"] == "active"


def test_approve_without_a_pending_request_is_a_clear_error(used_home):
    proc = cli("approve", "monitored", home=used_home)
    assert proc.returncode == 1 and "no request awaiting approval" in proc.stderr


def test_report_covers_container_workers(home, tmp_path, container_engine):
    """A kernel host whose policy puts community plugins in containers; the report says so."""
    web = Web("127.0.0.1")
    net_dir = tmp_path / "restricted_network"
    shutil.copytree(PLUGINS / "fixtures" / "restricted_network", net_dir)
    manifest = net_dir / "plugin.yaml"
    ports = {"PORTA": str(web.port), "PORTB": "1", "PORTC": "1"}
    text = manifest.read_text()
    for old, new in ports.items():
        text = text.replace(old, new)
    manifest.write_text(text)
    policy = AdminPolicy.from_dict(
        {
            "monitoring": {"interval_seconds": 3600},
            "blocked_commands": ["touch"],
            "tiers": {"community": {"isolation": "container"}},
        }
    )
    try:
        with corral.Host(home=home, policy=policy, container=container_engine) as host:
            net = host.load(net_dir)
            assert net.call("raw", "127.0.0.1", web.port, "GET / HTTP/1.0\r\n\r\n")
            code, _ = net.call("ctypes_socks", "127.0.0.1", 1, "x")  # past the guard: proxy says no
            assert code == 2
            programs = host.load(PLUGINS / "fixtures" / "exec_plugin")
            assert programs.call("run", ["/usr/bin/echo", "hi"])["stdout"] == "hi\n"
            with pytest.raises(corral.CorralError):
                programs.call("run", ["/usr/bin/touch", "x"])
            host.monitor.tick()
    finally:
        web.close()
    reports = {}
    for name in ("exec-plugin", "restricted-network"):
        proc = cli("report", name, "--json", home=home)
        assert proc.returncode == 0, proc.stderr
        reports[name] = json.loads(proc.stdout)
    programs, net = reports["exec-plugin"], reports["restricted-network"]
    assert programs["backend"] == net["backend"] == "container"
    assert programs["grant"]["isolation"] == "container"
    assert "touch" in " ".join(str(d) for d in programs["grant"]["dropped"])  # the policy applied
    assert programs["commands"] == {"/usr/bin/echo": 1}
    assert sum(programs["violations"].values()) >= (1 if GUARDED else 0)
    assert programs["usage"]["calls"] >= 1 and programs["usage"]["monitor_peaks"]
    connections = net["connections"]
    assert connections["allowed"] == 1 and connections["refused"] >= 1
    assert connections["destinations"] == {f"127.0.0.1:{web.port}": 1}
    assert connections["bytes_out"] > 0 and connections["bytes_in"] > 0
    assert net["violations"].get("network", 0) >= 1  # the proxy's refusal counts
    proc = cli("report", "exec-plugin", home=home)
    assert "isolation container (ran in: container)" in proc.stdout
    assert "commands run: /usr/bin/echo x1" in proc.stdout
