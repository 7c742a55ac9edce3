"""Host functions: a plugin calls back into its host across the pen, behind permissions."""

from __future__ import annotations

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
