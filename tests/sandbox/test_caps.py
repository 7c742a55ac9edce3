"""Capabilities and no_new_privs, checked from outside the child that dropped them.

Capabilities only matter for a process that has some, so the attacks here
start as root (the host's root, as a root-run host forks its pen) and skip
with a reason otherwise. Each deny test runs its attack unconfined first, to
show the privilege was really there to lose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corral.sandbox import _libc, caps
from tests.sandbox._forkrun import Channel, run, spawn

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: only a privileged child has capabilities to lose"
)
NOBODY = 65534
CLONE_NEWUSER = 0x10000000


def status_fields(pid: int | str) -> dict[str, str]:
    """/proc/<pid>/status as a dict; read by the test, outside the child."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def dropped(_chan: Channel | None = None) -> None:
    caps.no_new_privs()
    caps.drop_all()


def dropped_then(body: Callable[[Channel], object]) -> Callable[[Channel], object]:
    """A child body that drops every capability before running ``body``."""

    def after_drop(chan: Channel) -> object:
        dropped()
        return body(chan)

    return after_drop


def own_user_namespace() -> None:
    """Unprivileged, become root of a fresh user namespace, as a non-root host's pen does.

    There the child holds every capability (over its namespace), so there is
    something to drop; as root, the child already has them.
    """
    if os.geteuid() == 0:
        return
    uid, gid = os.geteuid(), os.getegid()
    _libc.call("unshare", CLONE_NEWUSER)
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def drop_then_wait(chan: Channel) -> object:
    """Drop, then stay alive until the test has looked at /proc/<pid>/status."""
    own_user_namespace()
    dropped()
    chan.send("dropped")
    return chan.recv()


def test_drop_all_empties_every_set_as_seen_from_outside() -> None:
    with spawn(drop_then_wait) as child:
        assert child.chan.recv() == "dropped"
        seen = status_fields(child.pid)
        child.chan.send("done")
        assert child.finish().ok
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(seen[field], 16) == 0, field
    assert seen["NoNewPrivs"].strip() == "1"


def test_current_effective_reports_the_drop() -> None:
    def before_and_after(_chan: Channel) -> list[int]:
        before = caps.current_effective()
        dropped()
        return [before, caps.current_effective()]

    before, after = run(before_and_after).value
    assert before == caps.current_effective()
    assert after == 0


@pytest.fixture
def foreign_file(tmp_path: Path) -> Path:
    """A file owned by somebody else (uid 12345)."""
    path = tmp_path / "theirs.txt"
    path.write_text("theirs")
    if os.geteuid() == 0:
        os.chown(path, 12345, 12345)
    return path


def chown_to_me(path: Path) -> Callable[[Channel], object]:
    def body(_chan: Channel) -> object:
        try:
            os.chown(path, os.getuid(), os.getgid())
        except PermissionError:
            return "EPERM"
        return "chowned"

    return body


@needs_root
def test_deny_chown_of_foreign_file_after_drop(foreign_file: Path, tmp_path: Path) -> None:
    control = tmp_path / "control.txt"
    shutil.copy(foreign_file, control)
    os.chown(control, 12345, 12345)
    assert run(chown_to_me(control)).value == "chowned"

    outcome = run(dropped_then(chown_to_me(foreign_file)))
    assert outcome.value == "EPERM"
    assert foreign_file.stat().st_uid == 12345


def test_allow_own_files_after_drop(tmp_path: Path) -> None:
    mine = tmp_path / "mine.txt"

    def body(_chan: Channel) -> object:
        dropped()
        mine.write_text("still works")
        os.chmod(mine, 0o600)
        return mine.read_text()

    assert run(body).value == "still works"
    assert mine.stat().st_mode & 0o777 == 0o600


def exec_capabilities(_chan: Channel | None = None) -> int:
    """The effective set a freshly exec'd program gets, read by the program itself.

    As uid 0 (of the host or of the child's own user namespace), exec grants
    every capability in the bounding set unless the drop closed that door.
    """
    out = subprocess.run(
        ["cat", "/proc/self/status"], capture_output=True, text=True, check=True
    ).stdout
    return int(status_fields_from(out)["CapEff"], 16)


def status_fields_from(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def as_namespace_root(body: Callable[[Channel], object]) -> Callable[[Channel], object]:
    def rooted(chan: Channel) -> object:
        own_user_namespace()
        return body(chan)

    return rooted


def test_deny_regaining_capabilities_through_exec_as_root() -> None:
    assert run(as_namespace_root(exec_capabilities)).value != 0
    assert run(as_namespace_root(dropped_then(exec_capabilities))).value == 0


@pytest.fixture
def setuid_id() -> Iterator[Path]:
    """A setuid-root copy of ``id`` in a directory every uid may enter."""
    where = Path(tempfile.mkdtemp(prefix="corral-caps-", dir="/var/tmp"))
    where.chmod(0o755)
    binary = where / "id"
    shutil.copy(shutil.which("id") or "/usr/bin/id", binary)
    binary.chmod(0o4755)
    yield binary
    shutil.rmtree(where)


def euid_through_setuid_binary(binary: Path, *, nnp: bool) -> Callable[[Channel], object]:
    """Become nobody, then run a setuid-root program and report its effective uid."""

    def body(_chan: Channel) -> object:
        if nnp:
            caps.no_new_privs()
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
        out = subprocess.run([str(binary), "-u"], capture_output=True, text=True, check=True)
        return int(out.stdout)

    return body


@needs_root
def test_deny_setuid_gain_after_no_new_privs(setuid_id: Path) -> None:
    if run(euid_through_setuid_binary(setuid_id, nnp=False)).value != 0:
        pytest.skip("setuid bits are ignored on this filesystem (nosuid); nothing to prove")
    assert run(euid_through_setuid_binary(setuid_id, nnp=True)).value == NOBODY


@needs_root
def test_allow_drop_all_after_switching_to_an_unprivileged_uid() -> None:
    def body(_chan: Channel) -> object:
        os.setresuid(NOBODY, NOBODY, NOBODY)
        dropped()
        return caps.current().empty

    assert run(body).value is True


def test_no_new_privs_is_idempotent() -> None:
    def twice(_chan: Channel) -> object:
        caps.no_new_privs()
        caps.no_new_privs()
        return caps.no_new_privs_set()

    assert run(twice).value is True
    assert not caps.no_new_privs_set()
