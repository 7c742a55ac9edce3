"""cgroups, as the host uses them: create, let a child join and attack, read usage, kill, destroy.

The attacks are real and bounded (a 200 MiB allocation against 64 MiB, 50
forks against 24 tasks); what the test asserts comes from outside the child:
its wait status and the counters the kernel keeps in the group's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corral.errors import SandboxUnavailable
from corral.sandbox import cgroups
from corral.sandbox.cgroups import CgroupSet
from corral.sandbox.rlimits import MIB, THREAD_HEADROOM
from tests.sandbox._forkrun import Channel, run, spawn

pytestmark = pytest.mark.skipif(
    not all(cgroups.available()[c] for c in ("memory", "pids", "cpu")),
    reason="needs writable cgroup v1 memory, pids and cpu controllers (root)",
)


@pytest.fixture
def make_group() -> Iterator[Callable[..., CgroupSet]]:
    """``make_group(memory_mb=..., processes=..., cpu_percent=...)``, always removed afterwards."""
    made: list[CgroupSet] = []

    def make(memory_mb: int = 0, processes: int = 0, cpu_percent: int = 0) -> CgroupSet:
        name = f"test-{uuid.uuid4().hex[:12]}"
        group = CgroupSet.create(
            name, memory_mb=memory_mb, processes=processes, cpu_percent=cpu_percent
        )
        made.append(group)
        return group

    yield make
    for group in made:
        group.kill_all()
        group.destroy()


def _joined(group: CgroupSet, act: Callable[[Channel], object]):
    def body(chan: Channel) -> object:
        cgroups.join(group.name, os.getpid())
        return act(chan)

    return body


def test_create_writes_every_limit(make_group):
    group = make_group(memory_mb=64, processes=8, cpu_percent=25)
    memory, pids, cpu = (group.path(c) for c in ("memory", "pids", "cpu"))
    assert (memory / "memory.limit_in_bytes").read_text().strip() == str(64 * MIB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text().strip() == str(64 * MIB)
    assert (pids / "pids.max").read_text().strip() == str(8 + THREAD_HEADROOM)
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "25000"
    assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"


def test_create_nests_under_the_hosts_own_groups(make_group):
    group = make_group()
    for controller, path in group.dirs:
        assert path == cgroups.base_dirs()[controller] / group.name


def test_destroy_removes_every_directory(make_group):
    group = make_group(memory_mb=64, processes=8)
    outcome = run(_joined(group, lambda _: "joined"))
    assert outcome.value == "joined"
    group.destroy()
    assert [path for _, path in group.dirs if path.exists()] == []


@pytest.mark.parametrize("name", ["", "..", "a/b", "../../escape", "x" * 65])
def test_deny_names_that_are_not_one_plain_component(name):
    with pytest.raises(ValueError):
        CgroupSet.create(name, memory_mb=0, processes=0, cpu_percent=0)


def test_deny_joining_a_group_the_host_did_not_create():
    with pytest.raises(SandboxUnavailable) as caught:
        cgroups.join(f"absent-{uuid.uuid4().hex[:8]}", os.getpid())
    assert caught.value.layer == "cgroups"


def _allocate(megabytes: int):
    def act(_: Channel) -> int:
        block = b"\x01" * (megabytes * MIB)  # bytes(), unlike bytearray(), touches every page
        return len(block) // MIB

    return act


def test_deny_memory_limit_oom_kills_a_large_allocation(make_group):
    group = make_group(memory_mb=64)
    outcome = run(_joined(group, _allocate(200)))
    usage = group.usage()
    assert outcome.signal == signal.SIGKILL, outcome
    assert usage.oom_kills >= 1  # (memory.failcnt stays 0 on this 6.x kernel's v1 memcg)
    assert usage.memory_peak_bytes <= 64 * MIB


def test_allow_allocation_within_the_memory_limit_is_counted(make_group):
    group = make_group(memory_mb=64)
    outcome = run(_joined(group, _allocate(16)))
    usage = group.usage()
    assert outcome.value == 16, outcome
    assert usage.memory_peak_bytes >= 16 * MIB
    assert usage.oom_kills == 0


def _fork_bomb(chan: Channel) -> None:
    """Fork 50 children that stay alive, report how many forks worked, then wait."""
    forked = 0
    for _ in range(50):
        try:
            pid = os.fork()
        except BlockingIOError:
            continue
        if pid == 0:
            signal.pause()
            os._exit(0)
        forked += 1
    chan.send(forked)
    chan.recv()


def test_deny_pids_limit_stops_a_fork_bomb_and_kill_all_empties_the_group(make_group):
    group = make_group(processes=8)
    with spawn(_joined(group, _fork_bomb)) as child:
        forked = child.chan.recv()
        tasks = group.usage().tasks
        group.kill_all()
        assert group.procs() == frozenset()
        outcome = child.finish()
    assert forked == tasks - 1 == 8 + THREAD_HEADROOM - 1
    assert outcome.signal == signal.SIGKILL


def test_allow_forks_within_the_pids_limit(make_group):
    group = make_group(processes=64)
    with spawn(_joined(group, _fork_bomb)) as child:
        forked = child.chan.recv()
        tasks = group.usage().tasks
        group.kill_all()
    assert forked == 50
    assert tasks == 51


def _burn(seconds: float):
    def act(_: Channel) -> None:
        while time.process_time() < seconds:
            pass

    return act


def test_deny_cpu_quota_throttles_a_busy_loop(make_group):
    group = make_group(cpu_percent=10)
    outcome = run(_joined(group, _burn(0.05)))
    usage = group.usage()
    assert outcome.ok, outcome
    assert usage.cpu_throttled > 0
    assert usage.cpu_ns > 0


def test_allow_busy_loop_without_quota_is_not_throttled(make_group):
    group = make_group(cpu_percent=0)
    outcome = run(_joined(group, _burn(0.05)))
    assert outcome.ok, outcome
    assert group.usage().cpu_throttled == 0


def test_kill_all_on_an_empty_group_returns_at_once(make_group):
    group = make_group()
    group.kill_all()
    assert group.procs() == frozenset()


def test_available_reports_each_controller():
    assert set(cgroups.available()) == set(cgroups.CONTROLLERS)


# A host process that sweeps, started fresh (its groups are read once per process), which
# makes one group and then sweeps with the clock it is given. It waits on stdin so the test
# can move it into a private group first: its sweep then sees only that group's subtree.
_SWEEPER = """
import json, sys, time
sys.stdin.readline()
from corral.sandbox import cgroups
from corral.sandbox.cgroups import CgroupSet
group = CgroupSet.create("left-behind", memory_mb=0, processes=0, cpu_percent=0)
young = cgroups.sweep_stale(now=time.time(), older_than=3600)
print(json.dumps({"group": [str(p) for _, p in group.dirs], "swept": [str(p) for p in young]}))
sys.stdout.flush()
sys.stdin.readline()
old = cgroups.sweep_stale(now=time.time() + 7200, older_than=3600)
print(json.dumps({"swept": [str(p) for p in old]}))
"""


def test_sweep_removes_only_stale_empty_groups_under_the_hosts_own_group() -> None:
    """A host killed by SIGKILL leaves groups behind; the next host clears the empty, old ones.

    The sweeping host runs inside a private group of this test's, so even a clock two hours
    ahead (every empty group looks stale) can reach only what this test made: the sweep
    never removes the brand-new groups of other hosts and test runs on this machine. An
    empty group of the test's own, beside the private one, shows it from outside.
    """
    tag = uuid.uuid4().hex[:8]
    host_group = CgroupSet.create(f"sweep-host-{tag}", memory_mb=0, processes=0, cpu_percent=0)
    neighbour = CgroupSet.create(f"sweep-other-{tag}", memory_mb=0, processes=0, cpu_percent=0)
    host_dirs = {path for _, path in host_group.dirs}
    made: list[Path] = []
    sweeper = subprocess.Popen(
        [sys.executable, "-c", _SWEEPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert sweeper.stdin is not None and sweeper.stdout is not None
    try:
        host_group.join(sweeper.pid)
        sweeper.stdin.write("go\n")
        sweeper.stdin.flush()
        first = json.loads(sweeper.stdout.readline())
        made.extend(Path(p) for p in first["group"])
        assert made and all(path.parent.parent in host_dirs for path in made)
        assert first["swept"] == []  # young: may be another host's, still filling
        assert all(path.is_dir() for path in made)

        sweeper.stdin.write("go\n")
        sweeper.stdin.flush()
        swept = {Path(p) for p in json.loads(sweeper.stdout.readline())["swept"]}
        assert swept == set(made)  # old and empty: gone, and nothing else
        assert not any(path.exists() for path in made)
        assert all(path.is_dir() for _, path in neighbour.dirs)
        assert sweeper.wait(timeout=30) == 0
    finally:
        sweeper.kill()
        sweeper.wait()
        inside = [path / "corral" for path in host_dirs]  # the sweeping host's own base
        for path in [*made, *(base / "left-behind" for base in inside), *inside]:
            with contextlib.suppress(FileNotFoundError):
                path.rmdir()
        host_group.destroy()
        neighbour.destroy()


def test_a_renamed_group_keeps_its_members_and_gets_its_limits_late(make_group):
    # A spare's group: made without limits, joined, then renamed and limited for its worker.
    group = make_group()

    def act(chan: Channel) -> object:
        chan.send(cgroups.member(group.name))
        new_name = chan.recv()
        return cgroups.member(new_name), cgroups.member(group.name)

    with spawn(_joined(group, act)) as child:
        assert child.chan.recv() is True
        renamed = group.renamed(f"worker-{uuid.uuid4().hex[:8]}")
        renamed.set_limits(memory_mb=64, processes=8, cpu_percent=0)
        child.chan.send(renamed.name)
        outcome = child.finish()
    try:
        assert outcome.value == [True, False], outcome
        assert not group.path("pids").exists()
        assert (renamed.path("pids") / "pids.max").read_text().strip() == str(8 + THREAD_HEADROOM)
        limit = (renamed.path("memory") / "memory.limit_in_bytes").read_text().strip()
        assert limit == str(64 * MIB)
    finally:
        renamed.kill_all()
        renamed.destroy()


def test_deny_membership_is_not_claimed_outside_the_group(make_group):
    group = make_group()
    assert cgroups.member(group.name) is False
