"""Namespaces, attacked for real: the pen acts, the test judges from outside.

Each deny test switches off the layers that would also stop the act (Landlock
scopes signals, seccomp filters socket families), so that the namespace alone
stands in the way; its allowed twin switches the namespace off too and shows
the very same act then succeeds, so the deny test cannot pass by accident.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
from pathlib import Path

import pytest

from corral.sandbox import namespaces
from tests.sandbox._forkrun import Channel, run, spawn
from tests.sandbox.conftest import NOBODY, PEN_UID, pen, pen_pid, proc_status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the root path; see test_apply")

ONLY_NAMESPACES = {"landlock", "seccomp"}


def _victim() -> int:
    """A process of the pen's own uid, outside the pen: what a pen would like to kill."""
    pid = os.fork()
    if pid == 0:
        os.setresuid(PEN_UID, PEN_UID, PEN_UID)
        signal.pause()
        os._exit(0)
    return pid


def _alive(pid: int) -> bool:
    return os.waitpid(pid, os.WNOHANG) == (0, 0)


def _kill_attack(victim: int):
    def act(_: Channel) -> str:
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError as exc:
            return errno.errorcode[exc.errno or 0]
        return "sent"

    return act


@pytest.mark.parametrize("extra_off", [set(), {"userns"}])
def test_deny_pidns_pen_cannot_kill_a_host_process(make_plan, extra_off):
    victim = _victim()
    try:
        plan = make_plan(off=ONLY_NAMESPACES | extra_off)
        outcome = run(pen(plan, _kill_attack(victim)))
        assert outcome.value == "ESRCH", outcome
        assert _alive(victim)
    finally:
        os.kill(victim, signal.SIGKILL)
        os.waitpid(victim, 0)


def test_allow_without_pidns_the_same_kill_lands(make_plan):
    victim = _victim()
    plan = make_plan(off=ONLY_NAMESPACES | {"pidns"})
    outcome = run(pen(plan, _kill_attack(victim)))
    assert outcome.value == "sent", outcome
    _, status = os.waitpid(victim, 0)
    assert os.WTERMSIG(status) == signal.SIGKILL


def test_allow_pen_is_pid1_and_proc_lists_only_its_own_processes(make_plan):
    def act(_: Channel) -> object:
        child = os.fork()
        if child == 0:
            signal.pause()
        pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
        os.kill(child, signal.SIGKILL)
        return {"me": os.getpid(), "child": child, "proc": pids}

    outcome = run(pen(make_plan(), act))
    assert outcome.value == {"me": 1, "child": 2, "proc": [1, 2]}, outcome
    assert os.getpid() not in outcome.value["proc"]


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    return server


def _connect_attack(port: int):
    def act(_: Channel) -> str:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except OSError as exc:
            return errno.errorcode.get(exc.errno or 0, str(exc))
        return "connected"

    return act


def _accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


@pytest.mark.parametrize("network", ["none", "internal"])
def test_deny_netns_pen_cannot_reach_a_host_listener(make_plan, network):
    with _listener() as server:
        plan = make_plan(network=network, off=ONLY_NAMESPACES)
        outcome = run(pen(plan, _connect_attack(server.getsockname()[1])))
        assert outcome.value in ("ENETUNREACH", "ECONNREFUSED"), outcome
        assert not _accepted(server)


def test_allow_without_netns_the_same_connect_lands(make_plan):
    with _listener() as server:
        plan = make_plan(off=ONLY_NAMESPACES | {"netns"})
        outcome = run(pen(plan, _connect_attack(server.getsockname()[1])))
        assert outcome.value == "connected", outcome
        assert _accepted(server)


def test_allow_internal_pen_talks_to_itself_over_loopback(make_plan):
    port = 8765  # the pen's own network namespace: no clash with the host's ports

    def act(_: Channel) -> str:
        with socket.create_server(("127.0.0.1", port)) as server:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
                peer, _ = server.accept()
                client.sendall(b"ping")
                return peer.recv(4).decode()

    plan = make_plan(network="internal", tcp_connect_ports=(port,), tcp_bind_ports=(port,))
    outcome = run(pen(plan, act))
    assert outcome.value == "ping", outcome


def test_deny_utsns_host_name_does_not_leak_in(make_plan):
    outcome = run(pen(make_plan(), lambda _: os.uname().nodename))
    assert outcome.value == namespaces.HOSTNAME != os.uname().nodename


def test_allow_without_utsns_the_pen_sees_the_host_name(make_plan):
    outcome = run(pen(make_plan(off={"utsns"}), lambda _: os.uname().nodename))
    assert outcome.value == os.uname().nodename


_IPC_CREAT = 0o1000
_IPC_RMID = 0
_SHM_KEY = 0x0C0AA1


def _create_shm(_: Channel) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.shmget(_SHM_KEY, 4096, _IPC_CREAT | 0o666))


def _host_shm_ids(key: int) -> list[int]:
    rows = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return [int(row.split()[1]) for row in rows if int(row.split()[0]) == key]


def test_deny_ipcns_pen_shared_memory_never_reaches_the_host(make_plan):
    outcome = run(pen(make_plan(off=ONLY_NAMESPACES), _create_shm))
    assert outcome.value >= 0, outcome
    assert _host_shm_ids(_SHM_KEY) == []


def test_allow_without_ipcns_the_segment_lands_on_the_host(make_plan):
    outcome = run(pen(make_plan(off=ONLY_NAMESPACES | {"ipcns"}), _create_shm))
    found = _host_shm_ids(_SHM_KEY)
    for shmid in found:
        ctypes.CDLL(None).shmctl(shmid, _IPC_RMID, None)
    assert found == [outcome.value]


def test_allow_pen_runs_as_the_pen_uid_without_capabilities_seen_from_outside(make_plan):
    def act(chan: Channel) -> None:
        chan.send("ready")
        chan.recv()

    with spawn(pen(make_plan(), act)) as child:
        assert child.chan.recv() == "ready"
        inner = pen_pid(child.pid)
        status = proc_status(inner)
        user_ns = os.readlink(f"/proc/{inner}/ns/user")
        child.chan.send("done")
        assert child.finish().ok
    assert status["Uid"].split() == [str(PEN_UID)] * 4
    assert status["Gid"].split() == [str(PEN_UID)] * 4
    assert status["Groups"] == ""
    assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == 0
    assert user_ns != os.readlink("/proc/self/ns/user")


def _read_secret(path: Path):
    def act(_: Channel) -> str:
        try:
            return path.read_text()
        except PermissionError:
            return "EACCES"

    return act


def _secret(pen_dirs, mode: int) -> Path:
    secret = pen_dirs.root / "root-owned.txt"
    secret.write_text("TOPSECRET")
    secret.chmod(mode)
    return secret


def test_deny_pen_uid_cannot_read_a_root_only_file(make_plan, pen_dirs):
    outcome = run(pen(make_plan(off={"landlock"}), _read_secret(_secret(pen_dirs, 0o600))))
    assert outcome.value == "EACCES", outcome


def test_allow_pen_uid_reads_the_same_file_once_world_readable(make_plan, pen_dirs):
    outcome = run(pen(make_plan(off={"landlock"}), _read_secret(_secret(pen_dirs, 0o644))))
    assert outcome.value == "TOPSECRET", outcome


# The pen's own user namespace carries its per-user object limits, all 0. As
# root the uid drop, the empty capability sets and seccomp already cover most
# of what a user namespace would; these limits are what it adds.

_IN_OPEN_CREATE = 0x20 | 0x100


def _watch_then_report(watched: Path):
    """Watch ``watched`` with inotify, let the host act in it, then report what was seen."""

    def act(chan: Channel) -> object:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK)
        if fd < 0 or libc.inotify_add_watch(fd, bytes(watched), _IN_OPEN_CREATE) < 0:
            chan.send("refused")
            chan.recv()
            return errno.errorcode[ctypes.get_errno()]
        chan.send("watching")
        chan.recv()  # the host has acted
        return os.read(fd, 4096).decode("latin-1")

    return act


def _host_acts_while_a_pen_watches(plan, watched: Path, as_user: int = 0) -> object:
    with spawn(pen(plan, _watch_then_report(watched), as_user=as_user)) as child:
        child.chan.recv()
        (watched / "host-private-name").write_text("x")  # what the host does there
        child.chan.send("go")
        outcome = child.finish()
    return outcome.value


@pytest.mark.parametrize("as_user", [0, NOBODY])
def test_deny_userns_pen_cannot_watch_a_host_directory(make_plan, pen_dirs, as_user):
    # Landlock governs opening a file, not watching it (and is off here with seccomp).
    pen_dirs.root.chmod(0o777)
    plan = make_plan(off=ONLY_NAMESPACES)
    assert _host_acts_while_a_pen_watches(plan, pen_dirs.root, as_user) == "EMFILE"


def test_allow_without_userns_the_same_watch_sees_the_host(make_plan, pen_dirs):
    value = _host_acts_while_a_pen_watches(
        make_plan(off=ONLY_NAMESPACES | {"userns"}), pen_dirs.root
    )
    assert "host-private-name" in value


def _unshare_user(_: Channel) -> str:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(namespaces.CLONE_NEWUSER) != 0:
        return errno.errorcode[ctypes.get_errno()]
    return "unshared"


def test_deny_userns_pen_cannot_nest_a_namespace_even_without_seccomp(make_plan):
    assert run(pen(make_plan(off={"seccomp"}), _unshare_user)).value == "ENOSPC"


def test_allow_without_userns_and_seccomp_the_same_unshare_lands(make_plan):
    assert run(pen(make_plan(off={"seccomp", "userns"}), _unshare_user)).value == "unshared"


def test_allow_the_hosts_own_user_limits_stay_as_they_were(make_plan):
    before = Path("/proc/sys/user/max_inotify_instances").read_text()
    assert run(pen(make_plan(), lambda _: "ran")).value == "ran"
    assert Path("/proc/sys/user/max_inotify_instances").read_text() == before != "0\n"
