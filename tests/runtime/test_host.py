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
        assert "file:read=" in info.value.permission
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
