"""Attacks on the kernel pen only: exec of smuggled programs, what the pen's own /proc tells.

As in test_attacks.py, each attack is performed for real inside a pen and its
effect judged from the host.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import psutil
import pytest

from corral.limits import Limits
from corral.runtime.monitor import disk_used_mb
from tests.runtime._monitoring import make_host

pytestmark = pytest.mark.pen
QUIET = {"monitoring": {"interval_seconds": 3600}}  # the test ticks by hand
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root here")


@pytest.fixture
def smuggler(host, plugin_dir):
    return host.load(plugin_dir("fixtures/exec_smuggler"))


@pytest.mark.parametrize("how", ["memfd_execveat", "memfd_proc_fd", "elf_loader"])
def test_deny_exec_of_a_program_copied_by_the_plugin(smuggler, home, how):
    """No subprocess grant: a copy in a memfd, or in $WORK handed to ld.so, must not run.

    Landlock's EXECUTE right is checked on the memfd too (it is a file on the
    kernel's internal shmem mount, outside every rule), and the ELF loader is
    not executable in a pen that was granted no program.
    """
    marker = home / "work" / "exec-smuggler" / "smuggled"
    status = smuggler.call("exec_copy", how, "/run/corral/work/smuggled")
    assert not marker.exists()
    assert status == 7  # every exec refused: the child fell through to its exit


@pytest.fixture
def reader(host, plugin_dir):
    return host.load(plugin_dir("fixtures/proc_reader"))


TASK_TABLES = ("mountinfo", "mounts")  # a task dir has no mountstats
# Every spelling of the pen's own mount table: its pid dir, its pid 1, its task dir.
OWN_TABLE_PATHS = (
    *(f"/proc/{pid}/{name}" for pid in ("self", "1") for name in (*TASK_TABLES, "mountstats")),
    *(f"/proc/self/task/{{tid}}/{name}" for name in TASK_TABLES),
    "/proc/mounts",
)


@pytest.mark.parametrize("path", OWN_TABLE_PATHS)
def test_deny_learning_the_hosts_mounts_from_the_pens_own_mountinfo(reader, home, path):
    """The pen's mount namespace is a copy of the host's: its table names CORRAL_HOME.

    Even a pen root of its own would still show the bind mounts' source paths
    (mountinfo's field 4), so the table itself must stay unread. Read with
    ctypes, past the guard: Landlock alone refuses it.
    """
    status = reader.call("read_raw", "/proc/self/status")
    assert "Pid:\t1\n" in status["text"]  # the pen reads its own /proc, as pid 1 of its own
    got = reader.call("read_raw", path)
    assert got == {"errno": errno.EACCES}
    assert str(home) not in str(got)


@pytest.mark.parametrize("name", TASK_TABLES)
def test_deny_a_thread_of_the_pen_its_mount_table(reader, home, name):
    """/proc/thread-self is the task dir of the calling thread, beneath pid 1's dir."""
    got = reader.call("read_in_thread", f"/proc/thread-self/{name}")
    assert got == {"errno": errno.EACCES}
    assert str(home) not in str(got)


@pytest.mark.parametrize("path", ["/proc/self/mountinfo", "/proc/1/mountinfo"])
def test_deny_a_forked_child_the_pens_mount_table(reader, home, path):
    """A child's own pid dir was made after the ruleset: no rule covers it, nor pid 1's table."""
    assert "Pid:\t1\n" in reader.call("read_in_child", "/proc/1/status")["text"]
    got = reader.call("read_in_child", path)
    assert got == {"errno": errno.EACCES}
    assert str(home) not in str(got)


@pytest.mark.parametrize("path", ["/proc/self/mountinfo", "/proc/1/mountinfo", "/proc/mounts"])
def test_deny_a_granted_program_the_pens_mount_table(reader, home, path):
    """A granted cat is a native child of the pen: the kernel alone answers it."""
    control = reader.call("cat", "/proc/1/status")
    assert control["code"] == 0 and "Pid:\t1\n" in control["stdout"]  # cat runs and reads
    got = reader.call("cat", path)
    assert got["code"] != 0 and "Permission denied" in got["stderr"]
    assert str(home) not in got["stdout"]


@root_only
def test_deny_learning_the_hosts_cgroup_path(smuggler, host):
    """/proc/self/cgroup is readable in every pen: only a cgroup namespace hides the path."""
    outside = Path(f"/proc/{smuggler._slots.queue[0].pid}/cgroup").read_text()
    assert "/corral/exec-smuggler-" in outside  # where the host put it, seen from the host
    seen = smuggler.call("read_own", "cgroup")
    assert "memory:/" in seen  # the pen read its own file: what matters is what is in it
    assert "exec-smuggler" not in seen and "/corral/" not in seen


def test_deny_hiding_data_in_work_behind_many_empty_files(home, plugin_dir, audit):
    """$WORK has no kernel quota; the monitor's walk of it is capped, so it must fail secure.

    Walking only ``disk_scan_entries`` entries, the host counted about a tenth
    of 8 MiB hidden among ten times as many empty files, and never acted on
    disk_mb=5. The cap is lowered here (the host's own ``limits``) so the pen
    need not make 200,000 files past the default one.
    """
    cap = 200
    with make_host(home, QUIET, audit, limits=Limits(disk_scan_entries=cap)) as host:
        filler = host.load(plugin_dir("fixtures/work_filler"))
        pid = filler._slots.queue[0].pid
        assert filler.call("fill", 10 * cap, 8) == 10 * cap + 8
        assert disk_used_mb(home / "work" / "work-filler", cap=10**6) > 5  # really past it
        host.monitor.tick()
    (breach,) = audit.query(plugin="work-filler", kind="limit.breached")
    assert breach.details["limit"] == "disk_mb"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
