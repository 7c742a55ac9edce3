"""Attacks on the kernel pen only: exec of smuggled programs, what the pen's own /proc tells.

As in test_attacks.py, each attack is performed for real inside a pen and its
effect judged from the host.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.pen


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
    "mounts (CORRAL_HOME, other containers' overlay dirs) and its cgroup file the host's "
    "cgroup path; the pen shares the host's mount tree under Landlock and has no cgroup "
    "namespace. Fix: a cgroup namespace, and a pen root of its own (pivot_root) or "
    "Landlock rules on chosen /proc/self entries instead of the whole directory",
)
@pytest.mark.parametrize("name", ["mountinfo", "cgroup"])
def test_deny_learning_the_hosts_layout_from_the_pens_own_proc(smuggler, home, name):
    seen = smuggler.call("read_own", name)
    assert seen  # the pen read its own file: what matters is what is in it
    assert str(home) not in seen and "/corral/exec-smuggler-" not in seen
