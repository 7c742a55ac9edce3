"""Landlock, attacked for real: each act runs in a forked child, judged from the test.

Every deny test performs the forbidden act (Python ``open``, ``os.open``,
libc ``open`` through ctypes, a raw ``openat``, an exec, a connect, a signal)
and the test process, which stays unconfined, checks that the effect did not
happen. Each has an allowed twin showing the same act succeeds where granted,
so a ruleset that denied everything would fail too.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import corral
from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import _libc, landlock
from tests.sandbox._forkrun import Channel, run
from tests.sandbox._refuse import refuse_syscall

pytestmark = pytest.mark.skipif(landlock.abi_version() < 1, reason="kernel without Landlock")

# What the child needs to keep running Python after restrict_self.
RUNTIME = tuple(
    dict.fromkeys(
        [
            sys.prefix,
            os.path.join(sys.base_prefix, "lib"),
            "/usr/lib",
            "/lib",
            "/lib64",
            "/etc/ld.so.cache",
            str(Path(corral.__file__).parents[1]),
        ]
    )
)
SECRET = "TOPSECRET-not-for-the-pen"


def elf_interpreter(binary: str) -> str:
    """The dynamic loader the kernel opens (with exec intent) to run ``binary``."""
    head = Path(binary).read_bytes()[:4096]
    found = re.search(rb"(/[\w./-]*ld-linux[\w.-]*)\0", head)
    assert found, f"no ELF interpreter found in {binary}"
    return found.group(1).decode()


def attempt(act: Callable[[], object]) -> object:
    """Run one act: its result if it worked, else the errno name it met."""
    try:
        return act()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))


@dataclass(frozen=True)
class Tree:
    """A granted (read-only) dir, a dir outside every grant, and a writable work dir."""

    granted: Path
    outside: Path
    work: Path

    def plan(self, **fields: object) -> EnforcementPlan:
        reads = (*RUNTIME, str(self.granted), *fields.pop("read_paths", ()))  # type: ignore[misc]
        return EnforcementPlan(read_paths=reads, work_dir=str(self.work), **fields)  # type: ignore[arg-type]


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    t = Tree(tmp_path / "granted", tmp_path / "outside", tmp_path / "work")
    for d in (t.granted, t.outside, t.work):
        d.mkdir()
    (t.granted / "data.txt").write_text("shipped data")
    (t.outside / "secret.txt").write_text(SECRET)
    return t


def confined(plan: EnforcementPlan, act: Callable[[], object]) -> Callable[[Channel], object]:
    """A child body: apply Landlock for ``plan``, then attempt ``act``."""

    def body(_chan: Channel) -> object:
        landlock.apply(plan)
        return attempt(act)

    return body


# --- reading ----------------------------------------------------------------


def read_builtin(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_os(path: str) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def read_libc(path: str) -> str:
    fd = _libc.libc.open(path.encode(), os.O_RDONLY)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "libc open")
    return os.read(fd, 4096).decode()


def read_raw_openat(path: str) -> str:
    at_fdcwd = ctypes.c_long(-100)
    fd = _libc.syscall("openat", at_fdcwd, path.encode(), ctypes.c_long(os.O_RDONLY), 0)
    return os.read(fd, 4096).decode()


READERS = [read_builtin, read_os, read_libc, read_raw_openat]


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
def test_deny_read_outside_read_paths(tree: Tree, reader: Callable[[str], str]) -> None:
    secret = str(tree.outside / "secret.txt")
    outcome = run(confined(tree.plan(), lambda: reader(secret)))
    assert outcome.ok, outcome.error
    assert outcome.value == "EACCES"
    assert SECRET not in str(outcome)


@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.__name__)
def test_allow_read_inside_read_paths(tree: Tree, reader: Callable[[str], str]) -> None:
    outcome = run(confined(tree.plan(), lambda: reader(str(tree.granted / "data.txt"))))
    assert outcome.value == "shipped data"


def test_deny_symlink_from_granted_dir_to_outside(tree: Tree) -> None:
    (tree.granted / "innocent").symlink_to(tree.outside / "secret.txt")
    outcome = run(confined(tree.plan(), lambda: read_builtin(str(tree.granted / "innocent"))))
    assert outcome.value == "EACCES"


def test_allow_symlink_within_granted_dir(tree: Tree) -> None:
    (tree.granted / "alias").symlink_to(tree.granted / "data.txt")
    outcome = run(confined(tree.plan(), lambda: read_builtin(str(tree.granted / "alias"))))
    assert outcome.value == "shipped data"


def test_allow_listing_granted_dir_but_not_outside(tree: Tree) -> None:
    def both() -> object:
        return [
            attempt(lambda: os.listdir(tree.granted)),
            attempt(lambda: os.listdir(tree.outside)),
        ]

    outcome = run(confined(tree.plan(), both))
    assert outcome.value == [["data.txt"], "EACCES"]


# --- writing ----------------------------------------------------------------


def tamper_with(victim: Path, work: Path) -> dict[str, object]:
    """Every way to change or remove ``victim`` and to add files next to it."""
    acts: dict[str, Callable[[], object]] = {
        "overwrite": lambda: open(victim, "w").write("pwned"),
        "append": lambda: os.write(os.open(victim, os.O_WRONLY | os.O_APPEND), b"pwned"),
        "truncate": lambda: os.truncate(victim, 0),
        "unlink": lambda: os.unlink(victim),
        "rename_away": lambda: os.rename(victim, work / "stolen"),
        "create": lambda: open(victim.parent / "new.txt", "x").close(),
        "mkdir": lambda: os.mkdir(victim.parent / "newdir"),
        "symlink": lambda: os.symlink("/etc/passwd", victim.parent / "link"),
        "mkfifo": lambda: os.mkfifo(victim.parent / "fifo"),
    }
    return {name: attempt(act) for name, act in acts.items()}


@pytest.mark.parametrize("where", ["granted", "outside"])
def test_deny_write_outside_write_paths(tree: Tree, where: str) -> None:
    victim = getattr(tree, where) / "victim.txt"
    victim.write_text("original")
    before = sorted(os.listdir(victim.parent))

    outcome = run(confined(tree.plan(), lambda: tamper_with(victim, tree.work)))

    assert set(outcome.value.values()) <= {"EACCES", "EXDEV"}, outcome.value
    assert victim.read_text() == "original"
    assert sorted(os.listdir(victim.parent)) == before
    assert os.listdir(tree.work) == []


def test_allow_create_rename_delete_in_work_dir(tree: Tree) -> None:
    def journal_dance() -> object:
        work = tree.work
        (work / "db.sqlite-journal").write_text("journal")
        os.rename(work / "db.sqlite-journal", work / "db.sqlite")
        os.mkdir(work / "logs")
        os.rename(work / "db.sqlite", work / "logs" / "db.sqlite")
        (work / "tmp.txt").write_text("scratch")
        os.truncate(work / "tmp.txt", 2)
        os.unlink(work / "tmp.txt")
        os.symlink("logs/db.sqlite", work / "current")
        return "done"

    outcome = run(confined(tree.plan(), journal_dance))
    assert outcome.value == "done"
    assert (tree.work / "logs" / "db.sqlite").read_text() == "journal"
    assert sorted(os.listdir(tree.work)) == ["current", "logs"]


def test_allow_declared_write_path_outside_work_dir(tree: Tree) -> None:
    extra = tree.outside / "exports"
    extra.mkdir()
    plan = tree.plan(write_paths=(str(extra),))
    outcome = run(confined(plan, lambda: (extra / "out.csv").write_text("a,b")))
    assert outcome.value == 3
    assert (extra / "out.csv").read_text() == "a,b"
    assert (tree.outside / "secret.txt").read_text() == SECRET


# --- executing --------------------------------------------------------------

TOUCH = shutil.which("touch") or "/usr/bin/touch"


def exec_marker(binary: str, marker: Path) -> object:
    """Exec ``binary marker``: if the exec happens, the marker appears on disk."""
    return subprocess.run([binary, str(marker)], check=False).returncode


def test_deny_exec_of_binary_not_granted(tree: Tree) -> None:
    marker = tree.work / "marker"
    outcome = run(confined(tree.plan(), lambda: exec_marker(TOUCH, marker)))
    assert outcome.value == "EACCES"
    assert not marker.exists()


def test_allow_exec_of_granted_binary(tree: Tree) -> None:
    marker = tree.work / "marker"
    plan = tree.plan(exec_paths=(TOUCH, elf_interpreter(TOUCH)))
    outcome = run(confined(plan, lambda: exec_marker(TOUCH, marker)))
    assert outcome.value == 0
    assert marker.exists()


def test_deny_exec_of_binary_written_to_work_dir(tree: Tree) -> None:
    smuggled = tree.work / "my-touch"
    shutil.copy(TOUCH, smuggled)
    smuggled.chmod(0o755)
    marker = tree.work / "marker"
    plan = tree.plan(exec_paths=(elf_interpreter(TOUCH),))
    outcome = run(confined(plan, lambda: exec_marker(str(smuggled), marker)))
    assert outcome.value == "EACCES"
    assert not marker.exists()


# --- TCP ----------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[Callable[[], socket.socket]]:
    """Loopback TCP listeners in the test process, closed afterwards."""
    made: list[socket.socket] = []

    def make() -> socket.socket:
        s = socket.create_server(("127.0.0.1", 0))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def connect_to(port: int) -> object:
    with socket.create_connection(("127.0.0.1", port)):
        return "connected"


def accepted(server: socket.socket) -> bool:
    """Whether a connection is waiting; never blocks."""
    server.setblocking(False)
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


@pytest.mark.skipif(landlock.abi_version() < 4, reason="Landlock TCP rules need ABI 4")
def test_deny_tcp_connect_to_port_not_granted(
    tree: Tree, listener: Callable[[], socket.socket]
) -> None:
    granted, other = listener(), listener()
    plan = tree.plan(network="restricted", tcp_connect_ports=(granted.getsockname()[1],))
    outcome = run(confined(plan, lambda: connect_to(other.getsockname()[1])))
    assert outcome.value == "EACCES"
    assert not accepted(other)


@pytest.mark.skipif(landlock.abi_version() < 4, reason="Landlock TCP rules need ABI 4")
def test_allow_tcp_connect_to_granted_port(
    tree: Tree, listener: Callable[[], socket.socket]
) -> None:
    granted = listener()
    plan = tree.plan(network="restricted", tcp_connect_ports=(granted.getsockname()[1],))
    outcome = run(confined(plan, lambda: connect_to(granted.getsockname()[1])))
    assert outcome.value == "connected"
    granted.settimeout(10)
    granted.accept()[0].close()


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


def bind_to(port: int) -> object:
    with socket.create_server(("127.0.0.1", port)):
        return "bound"


@pytest.mark.skipif(landlock.abi_version() < 4, reason="Landlock TCP rules need ABI 4")
def test_deny_tcp_bind_to_port_not_granted(tree: Tree) -> None:
    plan = tree.plan(network="restricted", tcp_bind_ports=(free_port(),))
    outcome = run(confined(plan, lambda: bind_to(free_port())))
    assert outcome.value == "EACCES"


@pytest.mark.skipif(landlock.abi_version() < 4, reason="Landlock TCP rules need ABI 4")
def test_allow_tcp_bind_to_granted_port(tree: Tree) -> None:
    port = free_port()
    outcome = run(
        confined(tree.plan(network="restricted", tcp_bind_ports=(port,)), lambda: bind_to(port))
    )
    assert outcome.value == "bound"


# --- scopes: signals and abstract unix sockets --------------------------------

needs_scopes = pytest.mark.skipif(landlock.abi_version() < 6, reason="Landlock scopes need ABI 6")


@needs_scopes
def test_deny_signal_to_process_outside_pen(tree: Tree) -> None:
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _frame: received.append(signum))
    try:
        outcome = run(confined(tree.plan(), lambda: os.kill(os.getppid(), signal.SIGUSR1)))
        pending = signal.SIGUSR1 in signal.sigpending()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert outcome.value == "EPERM"
    assert received == [] and not pending


@needs_scopes
def test_allow_signal_within_pen(tree: Tree) -> None:
    def signal_own_child() -> object:
        pid = os.fork()
        if pid == 0:
            signal.pause()
            os._exit(0)
        os.kill(pid, signal.SIGTERM)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    outcome = run(confined(tree.plan(), signal_own_child))
    assert outcome.value == -signal.SIGTERM


def abstract_connect(name: bytes) -> object:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(name)
        return "connected"


@needs_scopes
def test_deny_abstract_unix_socket_outside_pen(tree: Tree) -> None:
    name = b"\0corral-test-" + uuid.uuid4().hex.encode()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(name)
        server.listen()
        outcome = run(confined(tree.plan(), lambda: abstract_connect(name)))
        assert outcome.value == "EPERM"
        assert not accepted(server)


@needs_scopes
def test_allow_abstract_unix_socket_within_pen(tree: Tree) -> None:
    def own_server() -> object:
        name = b"\0corral-test-" + uuid.uuid4().hex.encode()
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(name)
            server.listen()
            return abstract_connect(name)

    assert run(confined(tree.plan(), own_server)).value == "connected"


# --- refusing to pretend --------------------------------------------------------


def test_deny_apply_on_kernel_without_landlock(tree: Tree) -> None:
    def without_landlock(_chan: Channel) -> object:
        refuse_syscall("landlock_create_ruleset", errno.ENOSYS)
        try:
            landlock.apply(tree.plan())
        except SandboxUnavailable as exc:
            return [landlock.abi_version(), exc.layer, str(exc)]
        return "applied"

    outcome = run(without_landlock)
    abi, layer, message = outcome.value
    assert (abi, layer) == (0, "landlock")
    assert "ABI 0" in message and "CONFIG_SECURITY_LANDLOCK" in message


def test_allow_plan_listing_missing_optional_paths(tree: Tree) -> None:
    plan = tree.plan(read_paths=(str(tree.granted / "no-such-dir"), "/opt/corral-absent"))
    outcome = run(confined(plan, lambda: read_builtin(str(tree.granted / "data.txt"))))
    assert outcome.value == "shipped data"


def test_allow_read_grant_on_a_single_file(tree: Tree) -> None:
    single = tree.outside / "config.toml"
    single.write_text("key = 1")
    plan = tree.plan(read_paths=(str(single),))
    outcome = run(
        confined(
            plan,
            lambda: [
                read_builtin(str(single)),
                attempt(lambda: read_builtin(str(tree.outside / "secret.txt"))),
            ],
        )
    )
    assert outcome.value == ["key = 1", "EACCES"]
    assert stat.S_ISREG(single.stat().st_mode)


# --- the handled set, as pure data ----------------------------------------------


def test_handled_set_degrades_with_abi() -> None:
    abi1, abi3, abi4, abi6 = (landlock.handled_for(abi) for abi in (1, 3, 4, 6))
    assert not abi1.fs & (landlock.FS_REFER | landlock.FS_TRUNCATE | landlock.FS_IOCTL_DEV)
    assert abi3.fs & landlock.FS_TRUNCATE and not abi3.fs & landlock.FS_IOCTL_DEV
    assert (abi1.net, abi4.net) == (0, landlock.NET_BIND_TCP | landlock.NET_CONNECT_TCP)
    assert (abi4.scoped, abi6.scoped) == (
        0,
        landlock.SCOPE_ABSTRACT_UNIX_SOCKET | landlock.SCOPE_SIGNAL,
    )
    assert [h.attr_size for h in (abi1, abi4, abi6)] == [8, 16, 24]


def test_full_network_leaves_connect_unhandled_but_not_bind() -> None:
    assert landlock.handled_for(7, "full").net == landlock.NET_BIND_TCP


def test_write_grants_never_include_execute(tree: Tree) -> None:
    grants = landlock.path_grants(
        tree.plan(write_paths=("/srv/out",), exec_paths=("/usr/bin/env",))
    )
    assert grants[str(tree.work)] & landlock.FS_EXECUTE == 0
    assert grants["/srv/out"] & landlock.FS_EXECUTE == 0
    assert grants["/usr/bin/env"] & landlock.FS_EXECUTE


def test_plugin_dir_is_always_listable_and_work_dir_always_writable() -> None:
    plan = EnforcementPlan(plugin_dir="/run/corral/plugin", work_dir="/run/corral/work")
    grants = landlock.path_grants(plan)
    assert grants == {
        "/run/corral/plugin": landlock.FS_READ_DIR,
        "/run/corral/work": landlock.WRITE,
    }
    assert landlock.path_grants(EnforcementPlan()) == {}


def test_deny_file_in_a_listable_dir_unless_named(tree: Tree) -> None:
    """List-only directories show names, never contents, except files named in read_paths."""
    listed = tree.outside
    (listed / "named.txt").write_text("ok")
    plan = tree.plan(list_paths=(str(listed),), read_paths=(str(listed / "named.txt"),))
    names = run(confined(plan, lambda: sorted(os.listdir(listed))))
    named = run(confined(plan, lambda: (listed / "named.txt").read_text()))
    secret = run(confined(plan, lambda: (listed / "secret.txt").read_text()))
    assert "secret.txt" in names.value and named.value == "ok"
    assert secret.value == "EACCES"


def test_internal_network_leaves_tcp_to_the_namespace() -> None:
    """At ``internal`` the pen's namespace holds only its own loopback: that is the barrier."""
    assert landlock.handled_for(7, "internal").net == 0
    assert landlock.handled_for(7, "none").net == landlock.NET_BIND_TCP | landlock.NET_CONNECT_TCP
