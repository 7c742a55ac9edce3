"""confine(plan), the whole sequence: what the pen is when it returns, and how it ends.

Each test forks, confines with every layer on (Landlock and seccomp included),
and judges from outside: the relay's exit status and rusage, ``/proc`` of the
pen, the host's files. The unprivileged path runs the same code started by
an ordinary uid.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from corral.errors import SandboxUnavailable
from corral.policy.plan import LAYERS, PEN_PLUGIN_DIR, PEN_WORK_DIR
from corral.sandbox import caps, namespaces
from corral.sandbox.cgroups import CgroupSet
from tests.sandbox._forkrun import Channel, run, spawn
from tests.sandbox.conftest import (
    NOBODY,
    PEN_UID,
    PLUGIN_FILE,
    PLUGIN_TEXT,
    pen,
    pen_pid,
    proc_status,
)

ROOT = os.geteuid() == 0
NS_LINKS = ("mnt", "pid_for_children", "net", "ipc", "uts", "user")


def _describe(chan: Channel) -> dict[str, object]:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines())
    return {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "hostname": os.uname().nodename,
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "channel": chan.fileno(),
        "ns": {name: os.readlink(f"/proc/self/ns/{name}") for name in NS_LINKS},
        "no_new_privs": fields["NoNewPrivs"].strip(),
        "seccomp": fields["Seccomp"].strip(),
        "cap_eff": caps.current_effective(),
    }


def _stray_fd() -> int:
    """A descriptor the pen must not inherit (opened by the test, before the fork)."""
    return os.open("/etc/hostname", os.O_RDONLY)


@pytest.mark.skipif(not ROOT, reason="the root path")
def test_allow_confine_returns_in_a_complete_pen(make_plan):
    plan = make_plan()
    stray = _stray_fd()
    try:
        outcome = run(pen(plan, _describe))
    finally:
        os.close(stray)
    pen_view = outcome.value
    assert outcome.ok, outcome
    assert pen_view["pid"] == 1
    assert pen_view["uid"] == PEN_UID
    assert pen_view["env"] == dict(plan.env)
    assert pen_view["cwd"] == PEN_WORK_DIR
    assert pen_view["hostname"] == namespaces.HOSTNAME
    assert stray not in pen_view["fds"]
    assert len(set(pen_view["fds"]) - {0, 1, 2, pen_view["channel"]}) == 1  # listdir's own
    assert pen_view["no_new_privs"] == "1" and pen_view["seccomp"] == "2"
    assert pen_view["cap_eff"] == 0
    for name in NS_LINKS:
        assert pen_view["ns"][name] != os.readlink(f"/proc/self/ns/{name}"), name


@pytest.mark.skipif(not ROOT, reason="drops from root to nobody to take the unprivileged path")
def test_allow_unprivileged_path_builds_the_same_pen(make_plan, pen_dirs):
    os.chown(pen_dirs.work, NOBODY, NOBODY)
    plan = make_plan()
    outcome = run(pen(plan, _describe, as_user=NOBODY))
    pen_view = outcome.value
    assert outcome.ok, outcome
    assert pen_view["pid"] == 1 and pen_view["uid"] == NOBODY
    assert pen_view["env"] == dict(plan.env)
    assert pen_view["cwd"] == PEN_WORK_DIR
    assert pen_view["hostname"] == namespaces.HOSTNAME
    assert pen_view["no_new_privs"] == "1" and pen_view["seccomp"] == "2"
    for name in NS_LINKS:
        assert pen_view["ns"][name] != os.readlink(f"/proc/self/ns/{name}"), name


@pytest.mark.skipif(not ROOT, reason="drops from root to nobody to take the unprivileged path")
def test_deny_unprivileged_pen_tmp_and_plugin_dir_stay_put(make_plan, pen_dirs):
    os.chown(pen_dirs.work, NOBODY, NOBODY)
    name = f"/tmp/corral-pen-{uuid.uuid4().hex}"

    def act(_: Channel) -> str:
        Path(name).write_text("pen")
        Path(PEN_WORK_DIR, "out.txt").write_text("work")
        try:
            Path(PEN_PLUGIN_DIR, PLUGIN_FILE).write_text("evil")
        except OSError as exc:
            return errno.errorcode[exc.errno or 0]
        return "written"

    outcome = run(pen(make_plan(), act, as_user=NOBODY))
    assert outcome.value in ("EROFS", "EACCES"), outcome
    assert not Path(name).exists()
    assert (pen_dirs.work / "out.txt").read_text() == "work"
    assert (pen_dirs.plugin / PLUGIN_FILE).read_text() == PLUGIN_TEXT


def test_relay_hands_on_the_pens_exit_code(make_plan):
    outcome = run(pen(make_plan(), lambda _: os._exit(7)))
    assert outcome.exit_code == 7


def test_relay_hands_on_the_signal_that_killed_the_pen(make_plan):
    outcome = run(pen(make_plan(), lambda _: ctypes.string_at(0)))
    assert outcome.signal == signal.SIGSEGV


@pytest.mark.skipif(not ROOT, reason="finds the pen through the relay's /proc entry")
def test_relay_hands_on_sigkill_from_outside_and_the_pens_rusage(make_plan):
    def act(chan: Channel) -> None:
        while time.process_time() < 0.2:
            pass
        chan.send(time.process_time())
        chan.recv()

    with spawn(pen(make_plan(), act)) as child:
        used = child.chan.recv()
        os.kill(pen_pid(child.pid), signal.SIGKILL)
        outcome = child.finish()
    assert outcome.signal == signal.SIGKILL
    assert outcome.rusage.ru_utime + outcome.rusage.ru_stime >= used


@pytest.mark.skipif(not ROOT, reason="finds the pen through the relay's /proc entry")
def test_deny_pen_outliving_its_relay(make_plan):
    def act(chan: Channel) -> None:
        chan.send("ready")
        chan.recv()

    with spawn(pen(make_plan(), act)) as child:
        child.chan.recv()
        inner = pen_pid(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        ended = _ends(inner)  # well before the pen's own safety alarm would end it
        outcome = child.finish()
    assert ended
    assert outcome.signal == signal.SIGKILL


def _ends(pid: int, patience: float = 5.0) -> bool:
    """Whether ``pid`` is gone (or a zombie) within ``patience``: an exit takes a moment."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            if proc_status(pid)["State"].startswith("Z"):
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.01)
    return False


@pytest.mark.skipif(not ROOT, reason="cgroups need root")
def test_allow_pen_and_relay_join_the_hosts_cgroup(make_plan):
    group = CgroupSet.create(
        f"test-{uuid.uuid4().hex[:8]}", memory_mb=128, processes=8, cpu_percent=0
    )

    def act(chan: Channel) -> None:
        chan.send("ready")
        chan.recv()

    try:
        with spawn(pen(make_plan(cgroup_name=group.name), act)) as child:
            child.chan.recv()
            members = group.procs()
            expected = {child.pid, pen_pid(child.pid)}
            child.chan.send("done")
            assert child.finish().ok
        assert members == expected
    finally:
        group.kill_all()
        group.destroy()


def test_deny_confine_refuses_a_cgroup_the_host_did_not_create(make_plan):
    outcome = run(pen(make_plan(cgroup_name=f"absent-{uuid.uuid4().hex[:8]}"), lambda _: "ran"))
    assert outcome.value is None and outcome.exit_code == 1
    assert outcome.error.startswith("corral.errors.SandboxUnavailable: cgroups:"), outcome


@pytest.mark.skipif(not ROOT, reason="the root path")
def test_deny_confine_refuses_to_run_the_pen_as_root(make_plan):
    outcome = run(pen(make_plan(pen_uid=0, pen_gid=0), lambda _: os.getuid()))
    assert outcome.value is None
    assert "must not run as uid or gid 0" in outcome.error, outcome


def test_allow_layers_switched_off_are_not_applied(make_plan, pen_dirs):
    plan = make_plan(
        off=set(LAYERS) - {"session"},
        plugin_dir=str(pen_dirs.plugin),
        work_dir=str(pen_dirs.work),
    )
    outcome = run(pen(plan, _describe))
    pen_view = outcome.value
    assert outcome.ok, outcome
    assert pen_view["pid"] != 1
    assert pen_view["seccomp"] == "0"
    assert pen_view["ns"] == {n: os.readlink(f"/proc/self/ns/{n}") for n in NS_LINKS}


def test_deny_a_layer_that_cannot_be_applied_raises_instead_of_skipping(make_plan):
    def act(chan: Channel) -> str:
        # A pen inside a pen: the first one's seccomp filter refuses unshare.
        from corral.sandbox.apply import confine

        try:
            confine(make_plan(off={"landlock"}), keep_fds=(chan.fileno(),))
        except SandboxUnavailable as exc:
            return exc.layer
        return "nested pen built"

    outcome = run(pen(make_plan(), act))
    assert outcome.value in ("userns", "mountns"), outcome
