"""The host loads a plugin and calls it in a pen: the allowed paths, end to end."""

from __future__ import annotations

import asyncio
import os

import pytest

import corral

pytestmark = pytest.mark.pen


def test_allow_call_returns_result_and_keeps_state(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    assert plugin.call("echo", "hi") == {"value": "hi", "calls": 1}
    assert plugin.call("echo", value="again") == {"value": "again", "calls": 2}


def test_allow_async_call(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    assert asyncio.run(plugin.acall("echo", 1)) == {"value": 1, "calls": 1}


def test_allow_reading_granted_data_and_writing_work(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    assert plugin.call("cities")[0]["name"] == "Oslo"
    done = plugin.call("write_note", "a.txt", "hello")
    assert done.endswith("a.done")
    assert (host.home.work / "good-notes" / "a.done").read_text() == "hello"


def test_allow_ordinary_code_sqlite_threads_tempfiles(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    assert plugin.call("sqlite_roundtrip") == 1
    assert plugin.call("threads", 8) == list(range(8))
    assert plugin.call("tmp_roundtrip") == "hello"


def test_allow_env_is_rebuilt_from_the_grant(host, plugin_dir, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Oslo")
    monkeypatch.setenv("CORRAL_TEST_API_TOKEN", "s3cr3t")
    plugin = host.load(plugin_dir("good"))
    env = plugin.call("env")
    assert env["TZ"] == "Europe/Oslo"
    assert env["LANG"] == "C.UTF-8"
    assert "s3cr3t" not in repr(plugin.call("env"))


def test_usage_comes_back_with_each_call(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    plugin.call("threads", 2)
    usage = plugin.last_usage
    assert usage is not None and usage.wall_seconds > 0 and usage.peak_memory_mb > 0


def test_unknown_callable_is_a_clear_error(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    with pytest.raises(corral.PluginFailed, match="no callable 'nope'"):
        plugin.call("nope")


def test_arguments_that_cannot_cross_are_a_type_error_before_the_call(host, plugin_dir):
    plugin = host.load(plugin_dir("good"))
    with pytest.raises(TypeError, match="msgpack"):
        plugin.call("echo", object())
    assert plugin.call("echo", 1)["value"] == 1


def test_denied_data_in_the_plugins_own_dir(host, plugin_dir, audit):
    plugin = host.load(plugin_dir("good"))
    with pytest.raises(corral.PermissionDenied) as info:
        plugin.call("secret")
    if host.unsafe_disable_layers in (frozenset(), frozenset({"guard"})):
        assert "denied by 'file:read=data/secrets/**'" in str(info.value)
        assert any(e.kind == "denied" for e in audit.query(plugin="good-notes"))


def test_audit_records_load_grant_and_calls(host, plugin_dir, audit):
    plugin = host.load(plugin_dir("good"))
    plugin.call("echo", 1)
    kinds = [e.kind for e in audit.query(plugin="good-notes")]
    for kind in ("grant", "worker.started", "plugin.loaded", "call.completed"):
        assert kind in kinds


def test_close_leaves_no_process_behind(tmp_path, plugin_dir):
    import psutil

    host = corral.Host(home=tmp_path / "home", audit="memory")
    plugin = host.load(plugin_dir("good"))
    pid = plugin.call("whoami")["pid"]
    assert pid == 1  # pid 1 of the pen's own pid namespace
    zygote = host._zygote.process.pid
    host.close()
    assert not psutil.pid_exists(zygote) or psutil.Process(zygote).status() == "zombie"
    me = psutil.Process(os.getpid())
    assert [c for c in me.children(recursive=True) if c.status() != "zombie"] == []


# --- a plugin that does not match its contract is refused at load --------------------


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [
        ("entry_missing_module", "entry module 'nowhere' not found in the plugin directory"),
        ("entry_missing_attribute", "entry module 'tools' has no 'Missing'"),
        ("entry_not_a_plugin", "entry class Helper must derive corral.Plugin"),
    ],
)
def test_deny_an_entry_that_breaks_its_contract(host, plugin_dir, audit, fixture, problem):
    name = fixture.replace("_", "-")
    with pytest.raises(corral.PluginValidationError) as info:
        host.load(plugin_dir(f"fixtures/{fixture}"))
    assert info.value.plugin == name
    assert str(info.value) == f"plugin {name!r}: {problem}"
    assert host.plugins() == []
    assert audit.query(plugin=name, kind="plugin.refused")


# --- fail secure: never less isolation than asked ---------------------------------


def test_deny_an_isolation_level_this_host_cannot_give(home):
    with pytest.raises(corral.SandboxUnavailable) as info:
        corral.Host(home=home, isolation="container")
    assert info.value.layer == "container"


def test_deny_restricted_network_without_its_network_namespace(home, plugin_copy, audit):
    """Process isolation has no netns: the proxy would not be the only way out, so refuse."""
    ports = {"PORTA": "8080", "PORTB": "8081", "PORTC": "8082"}
    with corral.Host(home=home, audit=audit, isolation="process") as host:
        with pytest.raises(corral.SandboxUnavailable) as info:
            host.load(plugin_copy("fixtures/restricted_network", ports))
    assert info.value.layer == "netns"
    assert "restricted-network" in str(info.value)
    kinds = [e.kind for e in audit.query(plugin="restricted-network")]
    assert "plugin.refused" in kinds and "worker.started" not in kinds


def test_allow_process_isolation_when_asked(home, plugin_dir, audit):
    with corral.Host(home=home, audit=audit, isolation="process") as host:
        plugin = host.load(plugin_dir("good"))
        assert plugin.call("echo", "hi")["value"] == "hi"
        assert plugin.call("whoami")["pid"] != 1  # no pid namespace: weaker, as asked
        with pytest.raises(corral.PermissionDenied):
            plugin.call("secret")  # the guard still holds the grant
    layers_off = audit.query(plugin="good-notes", kind="worker.started")[0].details["layers_off"]
    assert {"landlock", "seccomp", "mountns"} <= set(layers_off)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root pens run as another uid")
def test_deny_process_isolation_with_a_home_the_pen_cannot_reach(tmp_path, plugin_dir):
    # tmp_path sits under a 0700 directory: the pen's uid could not open its own code.
    with corral.Host(home=tmp_path / "home", audit="memory", isolation="process") as host:
        with pytest.raises(corral.SandboxUnavailable, match="may not search") as info:
            host.load(plugin_dir("good"))
    assert info.value.layer == "process"


def test_unsafe_in_process_runs_trusted_code_and_says_so(home, plugin_dir, audit):
    with corral.Host(home=home, audit=audit, unsafe_in_process=True) as host:
        plugin = host.load(plugin_dir("good"))
        assert plugin.call("echo", "hi") == {"value": "hi", "calls": 1}
        assert plugin.call("whoami")["pid"] == os.getpid()  # no pen at all
    assert audit.query(plugin="good-notes", kind="unsafe")[0].details == {"unsafe_in_process": True}


def test_an_unknown_layer_to_switch_off_is_refused(home):
    with pytest.raises(ValueError, match="engine-everything"):
        corral.Host(home=home, audit="memory", unsafe_disable_layers={"engine-everything"})
