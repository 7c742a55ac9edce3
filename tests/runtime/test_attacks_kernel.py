"""Attacks on the kernel pen only: exec of smuggled programs, what the pen's own /proc tells.

As in test_attacks.py, each attack is performed for real inside a pen and its
effect judged from the host.
"""

from __future__ import annotations

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


@pytest.mark.xfail(
    strict=True,
    reason="leak: /proc/self is readable in every pen, and its mountinfo lists the host's "
    "mounts (CORRAL_HOME, the store digest, other containers' overlay dirs): the pen shares "
    "the host's mount tree under Landlock. Fix: a pen root of its own (pivot_root), or "
    "Landlock rules on chosen /proc/self entries instead of the whole directory",
)
def test_deny_learning_the_hosts_mounts_from_the_pens_own_mountinfo(smuggler, home):
    seen = smuggler.call("read_own", "mountinfo")
    assert "/run/corral/work" in seen  # the pen read its own mount table: what is in it matters
    assert str(home) not in seen


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
