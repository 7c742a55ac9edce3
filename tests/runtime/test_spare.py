"""The spare: a zygote child forked ahead of time, already in a fresh cgroup.

Each test looks from outside (the process table, ``/proc/<pid>``,
``/sys/fs/cgroup``): the spare exists between loads, holds nothing of the
host's, becomes the next worker under that worker's own name and limits, and
is gone with its group when the host closes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

import corral
from corral.runtime.spare import PREFIX
from corral.sandbox.rlimits import MIB, task_limit
from tests.conftest import SABOTAGE

pytestmark = [
    pytest.mark.pen,
    pytest.mark.skipif(
        os.geteuid() != 0 or "cgroups" in SABOTAGE, reason="spares exist only with cgroups (root)"
    ),
]


def groups(pid: int) -> dict[str, str]:
    """controller -> group path of ``pid``, read from outside."""
    found = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            found[controller] = path
    return found


def spares(host: corral.Host) -> list[psutil.Process]:
    """The zygote's children in a spare group, once one has joined (it does so on its own)."""
    zygote = psutil.Process(host._zygote.process.pid)
    deadline = time.monotonic() + 10
    while True:
        found = [p for p in zygote.children() if f"/corral/{PREFIX}" in groups(p.pid)["pids"]]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def spare_groups() -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup/pids").rglob(f"{PREFIX}*") if p.is_dir()]


def worker_pid(handle) -> int:
    return handle._slots.queue[0].pid


@pytest.fixture
def good(host, plugin_dir):
    return host.load(plugin_dir("good"))


def test_allow_a_spare_waits_in_its_own_group_after_a_load(host, good):
    assert good.call("cities")
    (spare,) = spares(host)
    assert all(f"/corral/{PREFIX}" in groups(spare.pid)[c] for c in ("memory", "pids", "cpu"))


def test_deny_a_spare_holds_nothing_of_the_hosts(host, good):
    (spare,) = spares(host)
    fds = os.listdir(f"/proc/{spare.pid}/fd")
    assert sorted(int(fd) for fd in fds if int(fd) <= 2) == [0, 1, 2]
    assert len(fds) == 4  # 0-2 and its own socket to the zygote, nothing else
    environ = Path(f"/proc/{spare.pid}/environ").read_bytes().split(b"\0")
    assert set(filter(None, environ)) == {b"PATH=/usr/bin:/bin", b"LANG=C.UTF-8"}
    assert spare.uids().real == 0 and spare.ppid() == host._zygote.process.pid


def test_allow_the_next_worker_is_the_spare_under_its_own_name_and_limits(host, good, plugin_dir):
    (spare,) = spares(host)
    second = host.load(plugin_dir("fixtures/malicious_plugin"))
    pid = worker_pid(second)
    assert pid == spare.pid
    group = groups(pid)["pids"]
    assert Path(group).name.startswith("malicious-plugin-"), group
    base = Path("/sys/fs/cgroup")
    limits = second.grant.limits
    assert int((base / "pids" / group.lstrip("/") / "pids.max").read_text()) == task_limit(
        limits.processes
    )
    memory = base / "memory" / groups(pid)["memory"].lstrip("/")
    assert int((memory / "memory.limit_in_bytes").read_text()) == limits.memory_mb * MIB
    pen = psutil.Process(pid).children()[0]  # the pen under its relay: in the same groups
    assert groups(pen.pid)["pids"] == group and groups(pen.pid)["memory"] == groups(pid)["memory"]


def test_deny_memory_past_the_limit_in_a_worker_started_from_a_spare(host, good, plugin_dir):
    assert spares(host)
    bad = host.load(plugin_dir("fixtures/malicious_plugin"))
    with pytest.raises(corral.ResourceLimitExceeded) as info:
        bad.call("memory_bomb", 300)  # under the RLIMIT_AS fallback: only the cgroup stops it
    assert info.value.limit == "memory_mb"


def test_allow_close_takes_the_spare_and_its_group(home, audit, plugin_dir):
    before = set(spare_groups())
    with corral.Host(home=home, audit=audit, unsafe_disable_layers=SABOTAGE) as host:
        host.load(plugin_dir("good")).call("cities")
        (spare,) = spares(host)
        assert set(spare_groups()) - before
    assert not psutil.pid_exists(spare.pid) or spare.status() == psutil.STATUS_ZOMBIE
    assert set(spare_groups()) - before == set()
