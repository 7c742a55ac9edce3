"""rlimits: what they are planned to be, and each one stopping a real flood in a forked child.

The child sets the limits with ``rlimits.apply`` and attacks; the test looks
from outside (file sizes on disk, ``/proc/<pid>/fd``, the wait status and
rusage). Each deny test has a twin without that limit where the act succeeds.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from corral.policy.plan import EnforcementPlan
from corral.sandbox import namespaces, rlimits
from tests.sandbox._forkrun import Channel, run, spawn, write_act
from tests.sandbox.conftest import PEN_UID

MIB = 1024 * 1024


def _limited(plan: EnforcementPlan, act):
    def body(chan: Channel) -> object:
        rlimits.apply(plan)
        return act(chan)

    return body


def test_planned_always_turns_core_dumps_off():
    assert [(r.name, r.soft, r.hard) for r in rlimits.planned(EnforcementPlan())] == [
        ("core", 0, 0)
    ]


def test_planned_cpu_gives_a_one_second_grace_before_sigkill():
    (cpu,) = [r for r in rlimits.planned(EnforcementPlan(cpu_seconds=3)) if r.name == "cpu"]
    assert (cpu.soft, cpu.hard) == (3, 4)


def test_planned_memory_and_processes_fall_back_to_rlimits_without_a_cgroup():
    plan = EnforcementPlan(memory_mb=100, processes=4)
    planned = {r.name: r.soft for r in rlimits.planned(plan)}
    assert planned["as"] == (2 * 100 + 512) * MIB
    assert planned["nproc"] == 4 + rlimits.THREAD_HEADROOM


def test_planned_leaves_memory_and_processes_to_the_cgroup_in_force():
    plan = EnforcementPlan(memory_mb=100, processes=4, cgroup_name="w1")
    assert {r.name for r in rlimits.planned(plan)} == {"core"}
    sabotaged = EnforcementPlan(
        memory_mb=100, processes=4, cgroup_name="w1", disabled_layers=frozenset({"cgroups"})
    )
    assert {r.name for r in rlimits.planned(sabotaged)} == {"core", "as", "nproc"}


def test_deny_file_size_stops_a_write_past_file_size_mb(tmp_path):
    target = tmp_path / "big"
    outcome = run(_limited(EnforcementPlan(file_size_mb=1), write_act(target, 2 * MIB)))
    assert outcome.value == "EFBIG", outcome
    assert target.stat().st_size == 1 * MIB


def test_allow_file_size_within_file_size_mb(tmp_path):
    target = tmp_path / "small"
    outcome = run(_limited(EnforcementPlan(file_size_mb=1), write_act(target, MIB // 2)))
    assert outcome.value == "written", outcome
    assert target.stat().st_size == MIB // 2


def _fd_flood(chan: Channel) -> None:
    # Start from a pen's fd table (0-2 and the channel), not the forked pytest's,
    # which holds whatever descriptors earlier tests left open below the limit.
    namespaces.close_fds_except({0, 1, 2, chan.fileno()})
    opened = 0
    try:
        for _ in range(200):
            os.open("/dev/null", os.O_RDONLY)
            opened += 1
    except OSError as exc:
        chan.send(errno.errorcode[exc.errno or 0])
    else:
        chan.send("all opened")
    chan.recv()


def _open_fds(plan: EnforcementPlan) -> tuple[str, list[int]]:
    """The child's verdict, and the fds it holds on /dev/null as seen from outside."""
    with spawn(_limited(plan, _fd_flood)) as child:
        verdict = child.chan.recv()
        fds = Path(f"/proc/{child.pid}/fd")
        held = [int(fd.name) for fd in fds.iterdir() if os.readlink(fd) == "/dev/null"]
        child.chan.send("done")
    return verdict, held


def test_deny_open_files_stops_an_fd_flood():
    verdict, held = _open_fds(EnforcementPlan(open_files=32))
    assert verdict == "EMFILE"
    assert 20 < len(held) <= 32 and max(held) < 32


def test_allow_fd_flood_without_open_files():
    verdict, held = _open_fds(EnforcementPlan())
    assert verdict == "all opened"
    assert len(held) >= 200


def _burn(_: Channel) -> None:
    while True:
        pass


def test_deny_cpu_seconds_kill_a_busy_loop():
    outcome = run(_limited(EnforcementPlan(cpu_seconds=1), _burn))
    assert outcome.signal in (signal.SIGXCPU, signal.SIGKILL), outcome


def test_allow_short_work_within_cpu_seconds():
    outcome = run(_limited(EnforcementPlan(cpu_seconds=5), lambda _: sum(range(100_000))))
    assert outcome.ok and outcome.value == sum(range(100_000)), outcome


_ALLOCATE = """
import resource, sys
from corral.policy.plan import EnforcementPlan
from corral.sandbox import rlimits
rlimits.apply(EnforcementPlan(memory_mb=int(sys.argv[1])))
try:
    block = bytearray(int(sys.argv[2]) * 1024 * 1024)
    print("allocated", len(block) // (1024 * 1024))
except MemoryError:
    print("MemoryError")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _allocate(memory_mb: int, megabytes: int) -> tuple[str, int]:
    """Limit a fresh interpreter the way a pen is limited, then allocate.

    A fresh interpreter, not a fork of pytest: RLIMIT_AS counts address space
    reserved, and a fork inherits every arena pytest's threads reserved
    (64 MiB each), so the same limit would judge the test run, not the pen.
    Pens fork from the small zygote for the same reason.
    """
    done = subprocess.run(
        [sys.executable, "-c", _ALLOCATE, str(memory_mb), str(megabytes)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    verdict, peak = done.stdout.splitlines()
    return verdict, int(peak)


def test_deny_address_space_fallback_stops_a_memory_bomb():
    verdict, peak = _allocate(64, 1024)
    assert verdict == "MemoryError"
    assert peak < 1024 * MIB


def test_allow_allocation_within_the_address_space_fallback():
    verdict, peak = _allocate(64, 64)
    assert verdict == "allocated 64"
    assert peak >= 64 * MIB


def _fork_flood(plan: EnforcementPlan):
    """Become an unprivileged pen with its own user namespace, limit it, fork until refused."""

    def act(chan: Channel) -> None:
        namespaces.become(PEN_UID, PEN_UID)
        namespaces.unshare(("userns",))
        namespaces.map_ids(PEN_UID, PEN_UID)
        rlimits.apply(plan)  # after the uid drop: RLIMIT_NPROC does not bind root
        release_r, release_w = os.pipe()
        forked = 0
        for _ in range(60):
            try:
                pid = os.fork()
            except BlockingIOError:
                continue
            if pid == 0:
                os.close(release_w)
                os.read(release_r, 1)
                os._exit(0)
            forked += 1
        chan.send(forked)
        chan.recv()
        os.close(release_w)
        while True:
            try:
                os.wait()
            except ChildProcessError:
                break

    return act


def _children_during_flood(plan: EnforcementPlan) -> tuple[int, int]:
    with spawn(_fork_flood(plan)) as child:
        forked = child.chan.recv()
        seen = len(Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split())
        child.chan.send("release")
        assert child.finish().exit_code == 0
    return forked, seen


@pytest.mark.skipif(os.geteuid() != 0, reason="drops from root to the pen uid")
def test_deny_processes_fallback_stops_a_fork_flood_in_the_pen_userns():
    forked, seen = _children_during_flood(EnforcementPlan(processes=4))
    limit = rlimits.task_limit(4)
    assert forked == seen == limit - 1  # the flooding process itself is the first task


@pytest.mark.skipif(os.geteuid() != 0, reason="drops from root to the pen uid")
def test_allow_fork_flood_without_processes_limit():
    forked, seen = _children_during_flood(EnforcementPlan())
    assert forked == seen == 60


def test_deny_core_dumps_seen_from_outside():
    def act(chan: Channel) -> None:
        chan.send("ready")
        chan.recv()

    with spawn(_limited(EnforcementPlan(), act)) as child:
        child.chan.recv()
        limits = Path(f"/proc/{child.pid}/limits").read_text()
        child.chan.send("done")
    (core,) = [line for line in limits.splitlines() if line.startswith("Max core file size")]
    assert core.split()[4:6] == ["0", "0"]


def test_limits_are_clamped_to_a_lower_hard_limit_already_in_force():
    def act(_: Channel) -> list[int]:
        resource.setrlimit(resource.RLIMIT_NOFILE, (50, 50))
        rlimits.apply(EnforcementPlan(open_files=4096))
        return list(resource.getrlimit(resource.RLIMIT_NOFILE))

    assert run(act).value == [50, 50]
