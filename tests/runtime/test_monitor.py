"""The monitor measures every worker from outside its pen and acts at the limits.

Each test makes the plugin use a resource for real, then has the host take a
sample (``host.monitor.tick()``, what the sampler thread does every interval)
and judges the host's own measurement, the audit events, and the response.
"""

from __future__ import annotations

import time

import pytest

import corral
from corral.runtime.lifecycle import SqliteLifecycleStore as LifecycleStore
from corral.runtime.monitor import disk_used_mb
from tests.runtime._monitoring import Clock, make_host, responses

pytestmark = pytest.mark.pen
QUIET = {"monitoring": {"interval_seconds": 3600}}  # the test ticks by hand


def test_disk_filled_past_disk_mb_is_measured_breached_and_answered(home, plugin_dir, audit):
    with make_host(home, QUIET, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        for i in range(3):  # 3 MiB in 1 MiB files: each under file_size_mb, together over disk_mb=2
            plugin.call("fill", f"f{i}.bin", 1024)
        (sample,) = host.monitor.tick()
    work = home / "work" / "monitored"
    assert sample.disk_mb >= 3.0
    assert abs(sample.disk_mb - disk_used_mb(work)) < 0.01  # the host walked the real files
    breach = [e for e in audit.query(plugin="monitored", kind="limit.breached")]
    assert [e.details["limit"] for e in breach] == ["disk_mb"]
    assert breach[0].source == "host"
    (violation,) = audit.query(plugin="monitored", kind="violation")
    assert violation.details["type"] == "resource"
    assert responses(audit, "monitored") == ["warn"]  # the default ladder: warn, throttle at 3


def test_a_call_that_fills_work_past_disk_mb_ends_with_that_limit(home, plugin_dir, audit):
    """$WORK persists, so no kernel layer holds its total: the monitor kills the worker."""
    with make_host(home, {"monitoring": {"interval_seconds": 0.05}}, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        with pytest.raises(corral.ResourceLimitExceeded) as info:
            plugin.call("fill_and_wait", 3, 0.9)  # 3 MiB against disk_mb=2, then wait
        assert info.value.limit == "disk_mb"
        assert "disk quota of $WORK" in str(info.value)
        assert plugin.call("echo", "next") == "next"  # a fresh worker answers the next call
    assert disk_used_mb(home / "work" / "monitored") >= 2.0  # at disk_mb (it acts at 100 %)
    (breach,) = audit.query(plugin="monitored", kind="limit.breached")
    assert breach.details["limit"] == "disk_mb" and breach.source == "host"


def test_a_flood_of_guard_reports_is_counted_in_one_record_past_the_cap(home, plugin_dir, audit):
    """A plugin controls how often its guard reports: it cannot make the host write 2,000."""
    with make_host(home, QUIET, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        assert plugin.call("deny_flood", 2000) == 2000
        with pytest.raises(corral.PluginSuspended):  # and the default response still answered
            plugin.call("echo", "next")
    denied = audit.query(plugin="monitored", kind="denied")
    cap = host.limits.worker_events_per_call
    assert len(denied) == cap + 1
    assert denied[-1].details["suppressed"] == 2000 - cap


def test_warning_at_80_percent_once_per_crossing(home, plugin_dir, audit):
    with make_host(home, QUIET, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        plugin.call("fill", "a.bin", 1024)
        plugin.call("fill", "b.bin", 700)  # 1.68 of 2 MiB: 84 %
        host.monitor.tick()
        host.monitor.tick()
        warnings = audit.query(plugin="monitored", kind="limit.warning")
        assert [e.details["limit"] for e in warnings] == ["disk_mb"]
        assert not audit.query(plugin="monitored", kind="limit.breached")
        (home / "work" / "monitored" / "b.bin").unlink()  # back under 80 %: the warning re-arms
        host.monitor.tick()
        plugin.call("fill", "c.bin", 700)
        host.monitor.tick()
    assert len(audit.query(plugin="monitored", kind="limit.warning")) == 2


def test_descriptors_held_open_are_counted_from_proc(home, plugin_dir, audit):
    with make_host(home, QUIET, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        held = plugin.call("grab_fds")
        (sample,) = host.monitor.tick()
        assert 50 < held < 64
        assert sample.open_files == 64  # the descriptor table is full, as /proc shows it
        breach = audit.query(plugin="monitored", kind="limit.breached")
        assert [e.details["limit"] for e in breach] == ["open_files"]
        plugin.call("release_fds")
        (calm,) = host.monitor.tick()
        assert calm.open_files < 20


def test_samples_have_every_field_and_history_is_bounded(home, plugin_dir):
    policy = {"monitoring": {"interval_seconds": 3600, "history": 3}}
    with make_host(home, policy) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        for _ in range(5):
            host.monitor.tick()
        history = plugin.usage_history()
        assert len(history) == 3 and history == host.usage("monitored")
        last = history[-1]
        assert last.workers == 1 and last.processes >= 1 and last.tasks >= 1
        assert 1 < last.memory_mb < 128  # cgroup memory: pages the fork did not share
        assert last.net_connections == 0 and last.net_bytes == 0  # until the proxy lands
        assert set(last.to_dict()) >= {"cpu_percent", "open_files", "disk_mb"}


def test_sampler_thread_runs_on_its_own_and_stores_peaks(home, plugin_dir):
    with make_host(home, {"monitoring": {"interval_seconds": 0.05}}) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        deadline = time.monotonic() + 10
        while len(plugin.usage_history()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(plugin.usage_history()) >= 3
    peaks = LifecycleStore(home / "corral.db").usage("monitored")  # peaks are flushed at close
    assert peaks is not None and peaks["samples"] >= 3 and peaks["peaks"]["memory_mb"] > 1


def test_sampling_does_not_disturb_a_busy_worker(home, plugin_dir):
    with make_host(home, {"monitoring": {"interval_seconds": 0.01}}) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        deadline = time.monotonic() + 30  # a loaded machine may start the monitor late
        i = 0
        while i < 200 or (not plugin.usage_history() and time.monotonic() < deadline):
            assert plugin.call("echo", i) == i
            i += 1
        assert plugin.usage_history()  # it sampled while the calls went on


def test_cpu_share_over_the_limit_is_a_breach_where_no_cgroup_caps_it(home, plugin_copy, audit):
    clock = Clock()
    source = plugin_copy(
        "fixtures/monitored", {"call_timeout_seconds: 1": "call_timeout_seconds: 20"}
    )
    with make_host(home, QUIET, audit, clock=clock, isolation="process") as host:
        plugin = host.load(source)
        host.monitor.tick()  # the reference point
        plugin.call("spin", 0.4)
        clock.advance(1.0)
        (sample,) = host.monitor.tick()
    # 0.4 CPU seconds in one (injected) second; /proc counts in 10 ms ticks
    assert sample.cpu_percent >= 35, sample
    breach = audit.query(plugin="monitored", kind="limit.breached")
    assert [e.details["limit"] for e in breach] == ["cpu_percent"], breach  # community: 25 %


def test_host_function_calls_are_counted_as_a_rate(home, plugin_dir, audit):
    clock = Clock()
    with make_host(home, QUIET, audit, clock=clock) as host:
        host.function("orders.list", requires="orders:read")(lambda status: [status])
        host.function("orders.write", requires="orders:write")(lambda order: order)
        plugin = host.load(plugin_dir("fixtures/host_caller"))
        host.monitor.tick()
        for _ in range(10):
            plugin.call("list_orders", "open")
        clock.advance(2.0)
        (sample,) = host.monitor.tick()
        assert sample.hostcalls_per_second == 5.0
        with pytest.raises(corral.PermissionDenied):
            plugin.call("write_order", {"id": 1})  # a refused host function is a violation
    (violation,) = audit.query(plugin="host-caller", kind="violation")
    assert violation.details["type"] == "permission" and violation.details["cause"] == "hostcall"


def test_threads_up_to_the_task_limit_are_a_breach(home, plugin_dir, audit):
    with make_host(home, QUIET, audit) as host:
        plugin = host.load(plugin_dir("fixtures/monitored"))
        if "cgroups" in host._disabled_layers():
            pytest.skip("the task limit is the pids cgroup's")
        held = plugin.call("hold_threads")
        (sample,) = host.monitor.tick()
        assert sample.tasks == 32  # processes: 16 plus 16 threads of headroom, from pids.current
        assert held < 32
        assert [
            e.details["limit"] for e in audit.query(plugin="monitored", kind="limit.breached")
        ] == ["processes"]
        plugin.call("release_threads")
        (calm,) = host.monitor.tick()
        assert calm.tasks < 8


def test_disk_walk_stays_inside_work_and_is_capped(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.bin").write_bytes(b"x" * 65536)
    (tmp_path / "a" / "root").symlink_to("/usr")  # a link out of $WORK is not followed
    (tmp_path / "sparse.bin").open("wb").truncate(1 << 30)  # 1 GiB of holes: no blocks
    used = disk_used_mb(tmp_path)
    assert 0.06 <= used < 0.2
    for i in range(50):
        (tmp_path / f"n{i}").write_bytes(b"y" * 4096)
    assert disk_used_mb(tmp_path, cap=5) < disk_used_mb(tmp_path)
