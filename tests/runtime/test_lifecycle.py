"""Plugin lifecycle: states, administrative changes that survive a restart, consent on upgrade."""

from __future__ import annotations

import psutil
import pytest

import corral
from corral.runtime.lifecycle import SqliteLifecycleStore as LifecycleStore
from tests.runtime._monitoring import make_host

pytestmark = pytest.mark.pen
QUIET = {"monitoring": {"interval_seconds": 3600}}


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_plugins_lists_each_handle_with_its_state(home, plugin_dir):
    with make_host(home, QUIET) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        host.load(plugin_dir("good"))
        assert {(h.name, h.state) for h in host.plugins()} == {
            ("monitored", "running"),
            ("good-notes", "running"),
        }
        plugin.kill_workers("test")
        plugin.call("echo", 1)  # the dead worker is replaced
        host.suspend("good-notes")
        assert {(h.name, h.state) for h in host.plugins()} == {
            ("monitored", "running"),
            ("good-notes", "suspended"),
        }
        host.unload("good-notes")
        assert [h.name for h in host.plugins()] == ["monitored"]


def test_suspension_survives_a_host_restart(home, plugin_dir, audit):
    with make_host(home, QUIET, audit) as host:
        host.load(plugin_dir("fixtures/monitored"))
        host.suspend("monitored", reason="investigating")
    with make_host(home, QUIET, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        assert plugin.state == "suspended"
        assert not plugin.pen_workers()  # a suspended plugin gets no worker at load
        with pytest.raises(corral.PluginSuspended, match="suspended"):
            plugin.call("echo", 1)
        host.resume("monitored")
        assert plugin.call("echo", 1) == 1
        assert plugin.state == "running"
    states = [e.details["state"] for e in audit.query(plugin="monitored", kind="plugin.state")]
    assert states == ["suspended", "loaded"]


def test_disable_kills_workers_and_survives_a_restart(home, plugin_dir):
    with make_host(home, QUIET) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        (worker,) = plugin.pen_workers()
        host.disable("monitored")
        assert _gone(worker.pid)
        with pytest.raises(corral.PluginSuspended, match="disabled"):
            plugin.call("echo", 1)
        with pytest.raises(corral.HostError, match="is disabled, not suspended"):
            host.resume("monitored")
    with make_host(home, QUIET) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        assert plugin.state == "disabled"
        host.enable("monitored")
        assert plugin.call("echo", 3) == 3


def test_a_state_stored_by_another_process_is_picked_up_at_the_next_round(home, plugin_dir):
    with make_host(home, QUIET) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        LifecycleStore(home / "corral.db").set_state("monitored", "suspended", now=0.0)  # the CLI
        host.monitor.tick()
        with pytest.raises(corral.PluginSuspended):
            plugin.call("echo", 1)
        LifecycleStore(home / "corral.db").set_state("monitored", "loaded", now=0.0)
        host.monitor.tick()
        assert plugin.call("echo", 1) == 1


def test_reload_revalidates_and_regrants(home, plugin_copy):
    source = plugin_copy("fixtures/monitored", {"disk_mb: 2": "disk_mb: 2"})
    with make_host(home, QUIET) as host:
        host.load(source)
        text = (source / "plugin.yaml").read_text().replace("disk_mb: 2", "disk_mb: 5")
        (source / "plugin.yaml").write_text(text)
        fresh = host.reload("monitored")
        assert fresh.grant.limits.disk_mb == 5
        assert fresh.call("echo", 1) == 1
        (source / "plugin.yaml").write_text(text.replace("entry: probe", "entry: ["))
        with pytest.raises(corral.ManifestError):
            host.reload("monitored")


def test_an_upgrade_asking_for_more_waits_for_approval(home, plugin_copy, monkeypatch, audit):
    monkeypatch.setenv("TZ", "Europe/Oslo")
    v1 = plugin_copy("good", {"  - env:read=TZ\n": ""})
    with make_host(home, QUIET, audit) as host:
        assert host.load(v1).call("env")["TZ"] is None
    text = (v1 / "plugin.yaml").read_text()
    (v1 / "plugin.yaml").write_text(
        text.replace("version: 1.0.0", "version: 1.1.0").replace(
            "permissions:\n", "permissions:\n  - env:read=TZ\n"
        )
    )
    with make_host(home, QUIET, audit) as host:  # a restarted host, a new version
        plugin = host.load(v1)
        assert plugin.call("env")["TZ"] is None  # the new permission is not granted yet
        assert ("env:read=TZ", "awaiting approval (new in 1.1.0)") in plugin.grant.dropped
        assert host.approve("good-notes", "1.1.0") == frozenset(
            {"env:read=TZ", "file:read=data/**", "file:write=$WORK/**"}
        )
        assert host.plugins()[0].call("env")["TZ"] == "Europe/Oslo"  # reloaded with it
    with make_host(home, QUIET, audit) as host:  # consent is stored
        assert host.load(v1).call("env")["TZ"] == "Europe/Oslo"
        with pytest.raises(corral.HostError, match="no request awaiting approval"):
            host.approve("good-notes")
    states = [e.details["state"] for e in audit.query(plugin="good-notes", kind="plugin.state")]
    assert states == ["awaiting_approval", "approved"]
