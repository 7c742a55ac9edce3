"""Seed 003's malicious plugin attacks the pen; each effect is judged from outside.

Every test here performs the forbidden act for real inside a pen and then
checks, from the host, that it had no effect. With the guard on it also
checks the error type and the audit event. ``CORRAL_SABOTAGE=<layer>`` runs
the same tests with one layer off (scripts/sabotage.py) to show which tests
catch which layer; the effect assertions must then still hold wherever
another layer also stands in the way.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import psutil
import pytest

import corral
from tests.conftest import SABOTAGE

pytestmark = pytest.mark.pen
# Guard assertions (error type, permission, audit event) run normally and in the
# guard-alone sabotage run, where they must fail; kernel-layer sabotage runs
# switch the guard off too and judge only the effects.
GUARD = SABOTAGE in (frozenset(), frozenset({"guard"}))


@pytest.fixture
def bad(host, plugin_dir):
    return host.load(plugin_dir("fixtures/malicious_plugin"))


def _denied(audit, permission_part):
    return [
        e
        for e in audit.query(plugin="malicious-plugin", kind="denied")
        if permission_part in str(e.details.get("permission", ""))
    ]


# --- files ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["read_open", "read_os_open", "read_ctypes", "read_syscall"])
def test_deny_reading_outside_the_grant(bad, outside, how, audit):
    secret = outside / "secret.txt"
    with pytest.raises(corral.CorralError) as info:
        bad.call(how, str(secret))
    assert "TOPSECRET" not in str(info.value)
    assert isinstance(info.value, corral.PermissionDenied | corral.PluginFailed)
    if GUARD and how in ("read_open", "read_os_open"):
        assert isinstance(info.value, corral.PermissionDenied)
        assert info.value.permission == f"file:read={secret}"
        assert _denied(audit, str(secret))


def test_deny_reading_etc_passwd_even_through_ctypes(bad):
    with pytest.raises(corral.CorralError) as info:
        bad.call("read_ctypes", "/etc/passwd")
    assert "root:" not in str(info.value)


@pytest.mark.parametrize("how", ["write_file", "write_ctypes"])
def test_deny_writing_outside_work(bad, outside, how):
    target = outside / "pwned.txt"
    with pytest.raises(corral.CorralError):
        bad.call(how, str(target))
    assert not target.exists()


def test_allow_writing_inside_work(bad, tmp_path):
    bad.call("write_file", "/run/corral/work/ok.txt", "fine")
    assert (tmp_path / "home" / "work" / "malicious-plugin" / "ok.txt").read_text() == "fine"


@pytest.mark.parametrize("how", ["symlink_escape", "dotdot_escape"])
def test_deny_symlink_and_dotdot_escapes(bad, outside, how):
    with pytest.raises(corral.CorralError) as info:
        bad.call(how, str(outside / "secret.txt"))
    assert "TOPSECRET" not in str(info.value)


# --- network -----------------------------------------------------------------


@pytest.fixture
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    seen = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.parametrize("how", ["connect", "connect_ctypes"])
def test_deny_connecting_to_an_ungranted_listener(bad, listener, how, audit):
    port, seen = listener
    args = ("127.0.0.1", port) if how == "connect" else (port,)
    with pytest.raises(corral.CorralError):
        bad.call(how, *args)
    time.sleep(0.3)
    assert seen == []
    if GUARD and how == "connect":
        assert _denied(audit, f"network:connect=127.0.0.1:{port}")


# --- processes and environment -------------------------------------------------


def test_deny_spawning_an_ungranted_program(bad, outside, audit):
    marker = outside / "spawned"
    with pytest.raises(corral.CorralError):
        bad.call("spawn", ["/usr/bin/touch", str(marker)])
    assert not marker.exists()
    if GUARD:
        assert _denied(audit, "subprocess:execute=/usr/bin/touch")


def test_deny_os_system(bad, outside):
    marker = outside / "system"
    try:
        bad.call("os_system", f"touch {marker}")
    except corral.CorralError:
        pass
    assert not marker.exists()


def test_deny_reading_an_ungranted_env_var(host, plugin_dir, monkeypatch):
    monkeypatch.setenv("CORRAL_TEST_DB_PASSWORD", "hunter2")
    monkeypatch.setenv("CORRAL_TEST_PLAIN", "visible?")
    bad = host.load(plugin_dir("fixtures/malicious_plugin"))
    assert bad.call("env", "CORRAL_TEST_DB_PASSWORD") is None
    assert bad.call("env", "CORRAL_TEST_PLAIN") is None


def test_deny_reading_the_hosts_environ_through_proc(bad, monkeypatch):
    with pytest.raises(corral.CorralError) as info:
        bad.call("environ_of", os.getpid())
    assert "PATH=" not in str(info.value)


def test_deny_signalling_the_host(bad):
    got = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
    try:
        try:
            bad.call("signal_pid", os.getpid(), int(signal.SIGUSR1))
        except corral.CorralError:
            pass
        time.sleep(0.2)
        assert got == []
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_deny_ptrace_of_the_host(bad):
    with pytest.raises(corral.CorralError):
        bad.call("ptrace_attach", os.getpid())
    assert psutil.Process(os.getpid()).status() != psutil.STATUS_TRACING_STOP


def test_deny_seeing_the_hosts_hostname(bad):
    assert bad.call("whoami")["hostname"] != socket.gethostname()


def test_deny_creating_namespaces(bad):
    with pytest.raises(corral.CorralError, match="unshare"):
        bad.call("unshare_userns")


# --- resources -----------------------------------------------------------------


def test_deny_fork_bomb_past_the_process_limit(bad):
    try:
        result = bad.call("fork_bomb", 200)
        assert result["forked"] < 200 and result["failed"] > 0
    except corral.CorralError:
        pass
    assert bad.call("whoami")["pid"] == 1  # the next call still gets an answer


def test_deny_memory_bomb(bad):
    with pytest.raises((corral.ResourceLimitExceeded, corral.PluginCrashed)):
        bad.call("memory_bomb", 1024)
    assert bad.call("whoami")["pid"] == 1  # a fresh worker answers


def test_deny_busy_loop_past_cpu_limit(bad):
    start = time.monotonic()
    with pytest.raises((corral.ResourceLimitExceeded, corral.PluginTimeout)):
        bad.call("busy_loop", 60)
    assert time.monotonic() - start < 15


def test_deny_call_past_its_timeout(bad):
    start = time.monotonic()
    with pytest.raises(corral.PluginTimeout) as info:
        bad.call("sleep", 60)
    assert info.value.limit == "call_timeout_seconds"
    assert time.monotonic() - start < 10
    assert bad.call("sleep", 0) == 0


def test_deny_fd_flood(bad):
    assert bad.call("fd_flood", 10_000)["opened"] < 100


def test_deny_huge_file(bad, tmp_path):
    try:
        bad.call("huge_file", 64)
    except corral.CorralError:
        pass
    huge = tmp_path / "home" / "work" / "malicious-plugin" / "huge.bin"
    assert not huge.exists() or huge.stat().st_size <= 1024 * 1024


def test_crash_never_takes_the_host_down(bad, audit):
    with pytest.raises(corral.PluginCrashed):
        bad.call("crash")
    assert bad.call("whoami")["pid"] == 1
    assert audit.query(plugin="malicious-plugin", kind="worker.crashed")
