"""Hooks: the host declares a point, granted plugins handle it, each in its own pen."""

from __future__ import annotations

import asyncio
import os
import time

import psutil
import pytest

import corral

pytestmark = pytest.mark.pen


@pytest.fixture
def order_hooks(host):
    host.hook_point("order.created")
    host.hook_point("order.updated")
    return host


def test_run_hook_calls_a_granted_handler_in_its_pen(order_hooks, plugin_dir, audit):
    host = order_hooks
    host.load(plugin_dir("fixtures/hook_good"))
    [result] = host.run_hook("order.created", {"id": 7})
    assert result.plugin == "hook-good" and result.ok
    assert result.value["seen"] == 7
    assert result.value["pid"] != os.getpid()  # it ran in the worker, not in the host
    [called] = audit.query(plugin="hook-good", kind="hook.called")
    assert called.details["hook"] == "order.created" and called.details["ok"] is True


def test_handlers_without_the_grant_or_the_hook_point_are_refused_and_recorded(
    order_hooks, plugin_dir, audit
):
    host = order_hooks
    host.load(plugin_dir("fixtures/hook_good"))
    decisions = {
        e.details["hook"]: (e.decision, e.details.get("reason", ""))
        for e in audit.query(plugin="hook-good", kind="hook.registered")
    }
    assert decisions["order.created"][0] == "allow"
    assert decisions["order.updated"] == (
        "deny",
        "needs hook:register=order.updated in plugin.yaml",
    )
    assert decisions["order.invented"] == ("deny", "no such hook point")
    assert host.run_hook("order.updated", {"id": 1}) == []  # the refused handler never runs


def test_an_undeclared_hook_point_cannot_be_run(host):
    with pytest.raises(corral.HostError, match=r"declare it with host\.hook_point"):
        host.run_hook("order.created")


def test_one_hanging_and_one_crashing_plugin_never_stop_the_good_one(
    order_hooks, plugin_dir, audit
):
    host = order_hooks
    hanging = host.load(plugin_dir("fixtures/hook_hanging"))
    host.load(plugin_dir("fixtures/hook_crashing"))
    host.load(plugin_dir("fixtures/hook_good"))
    [hanging_pid] = [w.pid for w in hanging._slots.queue if w is not None]
    start = time.monotonic()
    results = {r.plugin: r for r in host.run_hook("order.created", {"id": 1})}
    elapsed = time.monotonic() - start
    assert results["hook-good"].ok and results["hook-good"].value["seen"] == 1
    hung = results["hook-hanging"]
    assert not hung.ok and isinstance(hung.error, corral.PluginTimeout)
    assert hung.error.limit == "hook_timeout_seconds"
    crashed = results["hook-crashing"]
    assert not crashed.ok and isinstance(crashed.error, corral.PluginCrashed)
    assert elapsed < 4  # concurrent: the 1 s hook timeout, not the sum of the handlers
    assert not psutil.pid_exists(hanging_pid)  # the runaway pen was killed, from outside
    kinds = {e.plugin: e.details["ok"] for e in audit.query(kind="hook.called")}
    assert kinds == {"hook-good": True, "hook-hanging": False, "hook-crashing": False}
    # the next run gets fresh workers for the plugins whose workers died
    again = {r.plugin: r.ok for r in host.run_hook("order.created", {"id": 2})}
    assert again["hook-good"] is True


def test_run_hook_from_asyncio(order_hooks, plugin_dir):
    order_hooks.load(plugin_dir("fixtures/hook_good"))
    [result] = asyncio.run(order_hooks.arun_hook("order.created", {"id": 3}))
    assert result.ok and result.value["seen"] == 3


def test_a_flood_of_reported_handlers_is_refused_in_one_record():
    from corral.policy import Grant, Permission
    from corral.runtime.hooks import MAX_HANDLERS, HookRegistry

    registry, records = HookRegistry(), []
    registry.declare("order.created")
    grant = Grant(plugin="p", tier="community", permissions=(Permission.parse("hook:register"),))
    reported = {f"h{i}": "fn" for i in range(MAX_HANDLERS + 1)} | {"order.created": "fn"}
    registry.register("p", grant, reported, lambda decision, **d: records.append((decision, d)))
    assert len(records) == 1 and records[0][0] == "deny"
    assert registry.handler("p", "order.created") is None


def test_hooks_in_an_unsafe_in_process_host(home, audit, plugin_dir):
    with corral.Host(home=home, audit=audit, unsafe_in_process=True) as host:
        host.hook_point("order.created")
        host.load(plugin_dir("fixtures/hook_good"))
        [result] = host.run_hook("order.created", {"id": 5})
        assert result.ok and result.value["pid"] == os.getpid()  # in-process: no pen at all
