"""A plugin attacks the host through its own end of the IPC channel.

The channel is the one thing a pen shares with the host, and the plugin owns
its end (fd 3): it can write any bytes there, not only what corral's sender
would. Each test has the plugin send a hostile frame for real and judges the
host from outside: it stays up, raises a plugin error (never a host error or
a bare AttributeError), kills the worker that broke the protocol, records it,
and stays bounded in memory and in audit records.
"""

from __future__ import annotations

import threading
import time

import psutil
import pytest

import corral

pytestmark = pytest.mark.pen

HOSTILE = [
    "result_for_no_call",
    "garbage",
    "bad_utf8",
    "event_details_not_a_map",
    "hostcall_name_not_a_string",
    "ready_with_bad_hooks",
]


@pytest.fixture
def abuser(host, plugin_dir):
    return host.load(plugin_dir("fixtures/channel_abuser"))


def _worker_pid(handle):
    return handle._slots.queue[0].pid


def _gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("frame", HOSTILE)
def test_deny_a_hostile_frame_and_kill_the_worker_that_sent_it(abuser, audit, frame):
    pid = _worker_pid(abuser)
    with pytest.raises(corral.PluginCrashed, match="broke the channel protocol"):
        abuser.call("send", frame)
    assert _gone(pid)  # a channel out of step is never trusted again
    (crash,) = audit.query(plugin="channel-abuser", kind="worker.crashed")
    assert "broke the channel protocol" in crash.details["error"] and crash.source == "host"
    (violation,) = audit.query(plugin="channel-abuser", kind="violation")
    assert violation.details["type"] == "crash"  # and it counts toward the response ladder
    assert abuser.call("echo", "next") == "next"  # the host is up; a fresh worker answers


def test_deny_a_frame_that_decodes_to_gigabytes(abuser, audit):
    """16 MiB of empty lists (one byte each on the wire) made the host allocate 1.3 GB."""
    me = psutil.Process()
    base = me.memory_info().rss
    peak = base
    done = threading.Event()

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, me.memory_info().rss)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(corral.PluginCrashed, match="broke the channel protocol"):
            abuser.call("send_empty_lists", 16 * 1024 * 1024 - 200)
    finally:
        done.set()
        watcher.join()
    assert peak - base < 200 * 1024 * 1024, f"the host grew by {(peak - base) >> 20} MiB"
    assert audit.query(plugin="channel-abuser", kind="worker.crashed")


def test_allow_a_frame_within_the_container_budget(abuser):
    assert abuser.call("send_empty_lists", 1000) == "sent"  # an ordinary report, recorded
    assert abuser.call("echo", [[]] * 1000) == [[]] * 1000


def test_deny_flooding_the_audit_log_while_being_imported(host, plugin_dir, audit):
    """The per-call cap on worker reports also holds before the first call."""
    flooder = host.load(plugin_dir("fixtures/setup_flooder"))
    assert flooder.call("echo", 1) == 1
    cap = host.limits.worker_events_per_call
    reports = audit.query(plugin="setup-flooder", kind="plugin.action")
    assert len(reports) == cap  # not the 5,000 it sent
    (summary,) = audit.query(plugin="setup-flooder", kind="denied")
    assert summary.details["suppressed"] == 5_000 - cap
    assert summary.details["during"] == "setup"
