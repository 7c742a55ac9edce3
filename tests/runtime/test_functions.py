"""Host functions: a plugin calls back into its host across the pen, behind permissions."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import corral

pytestmark = pytest.mark.pen


@pytest.fixture
def orders(host):
    store = {"written": []}

    @host.function("orders.list", requires="orders:read")
    def list_orders(status):
        return [{"id": 1, "status": status}]

    @host.function("orders.write", requires="orders:write")
    def write_order(order):
        store["written"].append(order)
        return True

    return store


def test_allow_a_granted_host_function(host, plugin_dir, orders, audit):
    plugin = host.load(plugin_dir("fixtures/host_caller"))
    assert plugin.call("list_orders", "open") == [{"id": 1, "status": "open"}]
    [event] = audit.query(plugin="host-caller", kind="hostcall")
    assert event.decision == "allow" and event.details["function"] == "orders.list"


def test_deny_an_ungranted_host_function(host, plugin_dir, orders, audit):
    plugin = host.load(plugin_dir("fixtures/host_caller"))
    with pytest.raises(corral.PermissionDenied) as info:
        plugin.call("write_order", {"id": 2})
    assert info.value.permission == "orders:write"
    assert orders["written"] == []  # the host function never ran
    [event] = audit.query(plugin="host-caller", kind="hostcall")
    assert event.decision == "deny"


def test_a_plugin_may_handle_the_refusal_like_an_os_error(host, plugin_dir, orders):
    plugin = host.load(plugin_dir("fixtures/host_caller"))
    assert plugin.call("write_order_quietly", {"id": 3}).startswith("refused: host function")
    assert orders["written"] == []


@pytest.fixture
def limited_host(home, audit):
    """A host whose host-function bounds are shrunk so a test can reach them quickly."""
    hosts = []

    def make(**bounds):
        h = corral.Host(home=home, audit=audit, limits=corral.Limits(**bounds))
        hosts.append(h)
        return h

    yield make
    for h in hosts:
        h.close()


def test_a_hanging_host_function_times_out_and_the_plugin_gets_on(limited_host, plugin_dir, audit):
    host = limited_host(host_call_timeout_seconds=0.5)
    release = threading.Event()

    @host.function("orders.list", requires="orders:read")
    def hang(*args, **kwargs):
        release.wait(30)
        return "late"

    plugin = host.load(plugin_dir("fixtures/host_caller"))
    start = time.monotonic()
    kind, limit, message = plugin.call("call_with", "orders.list")
    assert time.monotonic() - start < 5
    assert (kind, limit) == ("PluginTimeout", "host_call_timeout_seconds")
    assert "orders.list" in message
    release.set()
    assert plugin.call("call_with", "orders.list") == ["ok", "late"]
    outcomes = [e.details["outcome"] for e in audit.query(plugin="host-caller", kind="hostcall")]
    assert outcomes == ["timeout", "ok"]
    [timed_out, _] = audit.query(plugin="host-caller", kind="hostcall")
    assert timed_out.details["duration_ms"] >= 500


def test_oversized_arguments_are_refused_before_the_host_function_runs(
    limited_host, plugin_dir, audit
):
    host = limited_host(host_call_arg_bytes=1000)
    ran = []

    @host.function("orders.list", requires="orders:read")
    def list_orders(*args, **kwargs):
        ran.append(args)
        return []

    plugin = host.load(plugin_dir("fixtures/host_caller"))
    kind, limit, message = plugin.call("call_with", "orders.list", "x" * 5000)
    assert (kind, limit) == ("ResourceLimitExceeded", "host_call_arg_bytes")
    assert "host_call_arg_bytes=1000" in message
    assert ran == []
    [event] = audit.query(plugin="host-caller", kind="hostcall")
    assert event.decision == "deny" and event.details["reason"] == "host_call_arg_bytes"


def test_a_flooding_plugin_is_rate_limited_and_the_flood_is_recorded_once(
    limited_host, plugin_dir, audit
):
    host = limited_host(host_call_rate=1.0, host_call_burst=5)
    ran = []

    @host.function("orders.list", requires="orders:read")
    def list_orders(status):
        ran.append(status)
        return []

    plugin = host.load(plugin_dir("fixtures/host_caller"))
    refused = plugin.call("flood", 30)
    assert refused >= 20
    assert len(ran) == 30 - refused <= 10  # counted on the host, outside the pen
    events = audit.query(plugin="host-caller", kind="hostcall")
    denials = [e for e in events if e.decision == "deny"]
    assert len(denials) == 1 and denials[0].details["reason"] == "host_call_rate"


def test_a_host_function_result_that_cannot_cross_is_a_clear_error(host, plugin_dir):
    @host.function("orders.list", requires="orders:read")
    def list_orders(*args, **kwargs):
        return object()

    plugin = host.load(plugin_dir("fixtures/host_caller"))
    kind, *_ = plugin.call("call_with", "orders.list")
    assert kind == "CorralError"


def test_async_host_functions_are_awaited(host, plugin_dir):
    @host.function("orders.list", requires="orders:read")
    async def list_orders(status):
        await asyncio.sleep(0.01)
        return [status]

    plugin = host.load(plugin_dir("fixtures/host_caller"))
    assert plugin.call("list_orders", "open") == ["open"]


def test_a_misspelt_permission_fails_when_the_function_is_registered(host):
    with pytest.raises(ValueError, match="did you mean 'file'"):
        host.function("orders.list", requires="fiel:read")


def test_a_slow_host_function_cannot_stretch_the_plugins_call_past_its_timeout(
    home, audit, plugin_copy
):
    with corral.Host(
        home=home, audit=audit, limits=corral.Limits(host_call_timeout_seconds=60)
    ) as host:
        release = threading.Event()

        @host.function("orders.list", requires="orders:read")
        def hang(*args, **kwargs):
            release.wait(30)

        plugin = host.load(
            plugin_copy(
                "fixtures/host_caller", {"call_timeout_seconds: 10": "call_timeout_seconds: 1"}
            )
        )
        start = time.monotonic()
        with pytest.raises(corral.PluginTimeout) as info:
            plugin.call("call_with", "orders.list")
        release.set()
        assert time.monotonic() - start < 5  # the call's 1 s, not the host function's 60 s
        assert info.value.limit == "call_timeout_seconds"
        [event] = audit.query(plugin="host-caller", kind="hostcall")
        assert event.details["outcome"] == "timeout"
