"""Responses applied for real: each test provokes violations and checks the effect from outside.

The clock is injected where windows matter, so "5 in 60 s" is tested as
exactly that, not as "5 quickly".
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

import corral
from tests.conftest import SABOTAGE
from tests.runtime._monitoring import Clock, make_host, responses

pytestmark = pytest.mark.pen
QUIET = {"monitoring": {"interval_seconds": 3600}}
GUARDED = not ({"guard"} & SABOTAGE)


def _quota(worker) -> int:
    return int((worker.cgroup.path("cpu") / "cpu.cfs_quota_us").read_text())


@pytest.mark.skipif(not GUARDED, reason="counts guard denials, which need the guard")
def test_five_denials_within_60_s_suspend_the_plugin(home, plugin_dir, audit):
    clock = Clock()
    with make_host(home, QUIET, audit, clock=clock) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        for _ in range(4):
            with pytest.raises(corral.PermissionDenied):
                plugin.call("deny_file")
            clock.advance(10)
        clock.advance(30)  # the first denial is now 70 s old: four in the last minute
        with pytest.raises(corral.PermissionDenied):
            plugin.call("deny_exec")  # a permission denial, not a file one: its own count
        assert plugin.state == "running"
        with pytest.raises(corral.PermissionDenied):
            plugin.call("deny_file")
        assert plugin.state == "running"  # 4 file denials in the last 60 s: still a warning
        with pytest.raises(corral.PermissionDenied):
            plugin.call("deny_file")  # the fifth within 60 s
        assert plugin.state == "suspended"
        with pytest.raises(corral.PluginSuspended, match="suspended"):
            plugin.call("echo", 1)
        stored = host.control.store.state("monitored")
        assert stored is not None and stored.state == "suspended"
    assert responses(audit, "monitored") == ["warn"] * 6 + ["suspend"]
    types = [e.details["type"] for e in audit.query(plugin="monitored", kind="violation")]
    assert types == ["filesystem"] * 4 + ["permission", "filesystem", "filesystem"]
    (state,) = audit.query(plugin="monitored", kind="plugin.state")
    assert state.details["state"] == "suspended" and state.details["by"] == "response"


def test_throttle_lowers_the_real_cgroup_cpu_quota(home, plugin_dir, audit):
    policy = {**QUIET, "responses": {"resource": [{"action": "throttle", "after": 1}]}}
    with make_host(home, policy, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        if "cgroups" in host._disabled_layers():
            pytest.skip("this run has no cgroups")
        (worker,) = plugin.pen_workers()
        assert _quota(worker) == 25_000  # community: 25 % of one core
        plugin.call("grab_fds")  # holds every descriptor RLIMIT_NOFILE allows: a breach
        host.monitor.tick()
        assert _quota(worker) == 12_000  # int(25 * 0.5) %, read back from the kernel's file
        (response,) = audit.query(plugin="monitored", kind="response")
        assert response.details["action"] == "throttle" and response.details["applied"]
        plugin.kill_workers("test")
        plugin.call("echo", 1)
        (fresh,) = plugin.pen_workers()
        assert fresh is not worker and _quota(fresh) == 12_000  # new workers stay throttled


def test_throttle_without_cgroups_records_that_it_could_not(home, plugin_dir, audit):
    policy = {**QUIET, "responses": {"resource": [{"action": "throttle", "after": 1}]}}
    with make_host(home, policy, audit, isolation="process") as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        for i in range(3):
            plugin.call("fill", f"f{i}.bin", 1024)
        host.monitor.tick()
    (response,) = audit.query(plugin="monitored", kind="response")
    assert response.details["applied"] is False
    assert "cpu quota cannot be lowered" in response.details["error"].lower()


def test_kill_response_terminates_the_worker_and_the_next_call_starts_fresh(
    home, plugin_dir, audit
):
    policy = {**QUIET, "responses": {"resource": [{"action": "kill", "after": 1}]}}
    with make_host(home, policy, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        (worker,) = plugin.pen_workers()
        plugin.call("grab_fds")
        host.monitor.tick()  # open_files at 100 %
        assert responses(audit, "monitored") == ["kill"]
        assert not psutil.pid_exists(worker.pid) or psutil.Process(worker.pid).status() == "zombie"
        assert plugin.call("echo", 2) == 2
        assert plugin.pen_workers()[0].pid != worker.pid


def test_restart_stricter_gives_a_worker_with_smaller_limits(home, plugin_dir, audit):
    policy = {**QUIET, "responses": {"resource": [{"action": "restart_stricter", "after": 1}]}}
    with make_host(home, policy, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        if "cgroups" in host._disabled_layers():
            pytest.skip("this run has no cgroups")
        (worker,) = plugin.pen_workers()
        assert worker.cgroup.memory_limit_bytes() == 128 * 2**20
        for i in range(3):
            plugin.call("fill", f"f{i}.bin", 1024)
        host.monitor.tick()
        assert plugin.call("echo", 1) == 1
        (fresh,) = plugin.pen_workers()
        assert fresh.pid != worker.pid
        assert fresh.cgroup.memory_limit_bytes() == 64 * 2**20  # read from the cgroup file
        assert plugin.grant.limits.open_files == 32
    (response,) = audit.query(plugin="monitored", kind="response")
    assert response.details["limits"]["memory_mb"] == [128, 64]


def test_crashes_restart_with_doubling_backoff_then_disable(home, plugin_dir, audit):
    clock = Clock()
    policy = {**QUIET, "responses": {"backoff_initial_seconds": 0.05}}
    with make_host(home, policy, audit, clock=clock) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        for _ in range(5):
            with pytest.raises(corral.PluginCrashed):
                plugin.call("crash")
        assert plugin.state == "disabled"
        with pytest.raises(corral.PluginSuspended, match="disabled"):
            plugin.call("echo", 1)
    events = audit.query(plugin="monitored", kind="response")
    assert [e.details["action"] for e in events] == ["restart"] * 4 + ["disable"]
    assert [e.details["backoff_seconds"] for e in events[:4]] == [0.05, 0.1, 0.2, 0.4]


def test_a_restart_after_a_crash_waits_for_the_backoff(home, plugin_dir):
    with make_host(home, QUIET) as host:  # the default: 1 s
        plugin = host.load(plugin_dir("fixtures/monitored"))
        with pytest.raises(corral.PluginCrashed):
            plugin.call("crash")
        start = time.monotonic()
        assert plugin.call("echo", 1) == 1
        assert time.monotonic() - start >= 0.9


def test_three_timeouts_in_five_minutes_suspend(home, plugin_dir, audit):
    clock = Clock()
    with make_host(home, QUIET, audit, clock=clock) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        for _ in range(3):
            with pytest.raises(corral.PluginTimeout):
                plugin.call("sleep", 30)
            clock.advance(60)
        assert plugin.state == "suspended"
    assert responses(audit, "monitored") == ["kill", "kill", "suspend"]


def test_kill_of_a_busy_worker_fails_its_call_with_the_reason_not_as_a_crash(
    home, plugin_copy, audit
):
    source = plugin_copy(
        "fixtures/monitored", {"call_timeout_seconds: 1": "call_timeout_seconds: 30"}
    )
    policy = {**QUIET, "responses": {"resource": [{"action": "kill", "after": 1}]}}
    with make_host(home, policy, audit) as host:
        plugin = host.load(source)
        plugin.call("grab_fds")  # every descriptor RLIMIT_NOFILE allows, held: a breach
        with ThreadPoolExecutor(1) as pool:
            busy = pool.submit(plugin.call, "sleep", 20)
            while not plugin._slots.empty():  # the call has taken the worker
                time.sleep(0.01)
            time.sleep(0.3)
            start = time.monotonic()
            host.monitor.tick()  # open files at 100 %: the policy says kill
            with pytest.raises(corral.PluginCrashed, match="the host killed the worker"):
                busy.result(timeout=15)
            assert time.monotonic() - start < 10  # killed, not waited out
        assert plugin.call("echo", 1) == 1
    types = [e.details["type"] for e in audit.query(plugin="monitored", kind="violation")]
    assert types == ["resource"]  # the kill it caused is not counted again as a crash
