"""The seccomp filter, attacked for real through ctypes and raw syscalls.

Each deny test first runs the attack in an unconfined child (the control): it
must work on this machine, otherwise the test skips, because a refusal that
would happen anyway proves nothing about the filter. Then the same attack
runs under the filter and must meet EPERM, and where the attack has an effect
outside the child (a stolen secret, a datagram, a typed character) the test
process checks that it did not happen.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import tty
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import _libc, seccomp
from tests.sandbox._forkrun import Channel, run
from tests.sandbox._refuse import refuse_syscall

pytestmark = pytest.mark.skipif(not seccomp.available(), reason="kernel without seccomp filters")

SECRET = "corral-victim-secret-0123456789"
ERRNO_NAMES = frozenset(errno.errorcode.values())
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x20000, 0x10000000, 0x40000000
MS_REC, MS_PRIVATE = 0x4000, 0x40000


def raw(name: str, *args: object) -> int:
    """A raw syscall with integer arguments passed as C longs."""
    return _libc.syscall(name, *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))


def attempt(act: Callable[[], object]) -> object:
    try:
        return act()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc))


def in_child(
    act: Callable[[], object],
    *,
    network: str = "none",
    filtered: bool = True,
    before: Sequence[Callable[[], None]] = (),
) -> object:
    """Run ``act`` in a fresh child, under the filter for ``network`` unless told otherwise."""

    def body(_chan: Channel) -> object:
        for step in before:
            step()
        if filtered:
            seccomp.apply(EnforcementPlan(network=network))
        return attempt(act)

    outcome = run(body)
    assert outcome.exit_code == 0 and not outcome.error, outcome
    return outcome.value


def control(act: Callable[[], object], **kwargs: object) -> object:
    """The attack without the filter: it must succeed here, or there is nothing to prove."""
    value = in_child(act, filtered=False, **kwargs)  # type: ignore[arg-type]
    if value in ERRNO_NAMES:
        pytest.skip(f"this attack fails on this machine even without seccomp ({value})")
    return value


# --- reaching into another process ----------------------------------------------


@pytest.fixture
def victim() -> Iterator[tuple[int, int]]:
    """Another process of ours holding a secret in memory: (pid, address of the secret)."""
    code = (
        "import ctypes, sys\n"
        f"b = ctypes.create_string_buffer({SECRET.encode()!r})\n"
        "print(ctypes.addressof(b), flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    address = int(proc.stdout.readline())
    yield proc.pid, address
    proc.kill()
    proc.wait()


def ptrace_steal(pid: int, address: int) -> str:
    """Attach to ``pid``, read the secret word by word with PEEKDATA, detach."""
    ptrace_attach, ptrace_peekdata, ptrace_detach = 16, 2, 17
    raw("ptrace", ptrace_attach, pid, 0, 0)
    os.waitpid(pid, 0)
    stolen = b""
    for offset in range(0, len(SECRET), 8):
        word = ctypes.c_long()
        raw("ptrace", ptrace_peekdata, pid, address + offset, ctypes.byref(word))
        stolen += struct.pack("=q", word.value)
    raw("ptrace", ptrace_detach, pid, 0, 0)
    return stolen[: len(SECRET)].decode()


def vm_steal(pid: int, address: int) -> str:
    """Copy the secret straight out of ``pid``'s memory with process_vm_readv."""
    buffer = ctypes.create_string_buffer(len(SECRET))
    local = struct.pack("=QQ", ctypes.addressof(buffer), len(SECRET))
    remote = struct.pack("=QQ", address, len(SECRET))
    raw("process_vm_readv", pid, local, 1, remote, 1, 0)
    return buffer.raw.decode()


@pytest.mark.parametrize("steal", [ptrace_steal, vm_steal], ids=["ptrace", "process_vm_readv"])
def test_deny_reading_another_process(
    victim: tuple[int, int], steal: Callable[[int, int], str]
) -> None:
    pid, address = victim
    assert control(lambda: steal(pid, address)) == SECRET
    assert in_child(lambda: steal(pid, address)) == "EPERM"


# --- namespaces and mounts --------------------------------------------------------


def new_user_namespace() -> str:
    _libc.call("unshare", CLONE_NEWUSER)
    return os.readlink("/proc/self/ns/user")


def test_deny_unshare_into_new_user_namespace() -> None:
    assert control(new_user_namespace) != os.readlink("/proc/self/ns/user")
    assert in_child(new_user_namespace) == "EPERM"


def clone_into_new_user_namespace() -> str:
    pid = raw("clone", CLONE_NEWUSER | signal.SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return "cloned"


def test_deny_raw_clone_with_namespace_flags() -> None:
    assert control(clone_into_new_user_namespace) == "cloned"
    assert in_child(clone_into_new_user_namespace) == "EPERM"


def private_mount_namespace() -> None:
    """A mount tree of the child's own, so a mount that succeeds cannot touch the host."""
    if os.geteuid() == 0:
        _libc.call("unshare", CLONE_NEWNS)
    else:
        uid, gid = os.geteuid(), os.getegid()
        _libc.call("unshare", CLONE_NEWUSER | CLONE_NEWNS)
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    _libc.call("mount", b"none", b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None)


def test_deny_mount(tmp_path: Path) -> None:
    def mount_tmpfs() -> bool:
        _libc.call("mount", b"tmpfs", str(tmp_path).encode(), b"tmpfs", ctypes.c_ulong(0), None)
        return os.path.ismount(tmp_path)

    assert control(mount_tmpfs, before=[private_mount_namespace]) is True
    assert in_child(mount_tmpfs, before=[private_mount_namespace]) == "EPERM"
    assert not os.path.ismount(tmp_path)


# --- kernel interfaces no plugin needs --------------------------------------------


def bpf_map_create() -> str:
    bpf_map_type_array = 2
    attr = ctypes.create_string_buffer(struct.pack("=IIII", bpf_map_type_array, 4, 4, 1), 128)
    os.close(raw("bpf", 0, attr, 128))
    return "map created"


def io_uring_setup() -> str:
    params = ctypes.create_string_buffer(120)
    os.close(raw("io_uring_setup", 1, params))
    return "ring created"


def add_key() -> str:
    process_keyring = -2
    raw("add_key", b"user", b"corral-test", b"x", 1, process_keyring)
    return "key added"


@pytest.mark.parametrize("act", [bpf_map_create, io_uring_setup, add_key], ids=lambda a: a.__name__)
def test_deny_kernel_interfaces(act: Callable[[], str]) -> None:
    assert control(act) in {"map created", "ring created", "key added"}
    assert in_child(act) == "EPERM"


def test_deny_typing_into_a_terminal_with_tiocsti() -> None:
    master, slave = os.openpty()
    try:
        tty.setraw(slave)

        def own_the_terminal() -> None:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        def inject() -> str:
            fcntl.ioctl(slave, termios.TIOCSTI, b"X")
            return "typed"

        assert control(inject, before=[own_the_terminal]) == "typed"
        assert read_terminal(slave) == b"X"
        assert in_child(inject, before=[own_the_terminal]) == "EPERM"
        os.write(master, b"S")  # a sentinel typed by us, queued after anything injected
        assert read_terminal(slave) == b"S"
    finally:
        os.close(master)
        os.close(slave)


def read_terminal(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], 10)
    assert ready, "nothing arrived on the terminal"
    return os.read(fd, 64)


def test_allow_harmless_ioctls_on_a_terminal() -> None:
    master, slave = os.openpty()
    try:
        size = in_child(lambda: len(fcntl.ioctl(slave, termios.TIOCGWINSZ, bytes(8))))
        assert size == 8
    finally:
        os.close(master)
        os.close(slave)


def test_deny_personality_change_but_allow_query() -> None:
    per_linux32, query = 0x0008, 0xFFFFFFFF
    assert control(lambda: raw("personality", per_linux32)) == 0
    assert in_child(lambda: raw("personality", per_linux32)) == "EPERM"
    assert in_child(lambda: raw("personality", query)) == 0


# --- sockets --------------------------------------------------------------------------


@pytest.fixture
def udp_sink() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(10)
        yield sink


def send_datagram(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return s.sendto(b"leak", ("127.0.0.1", port))


def test_deny_udp_when_network_is_internal(udp_sink: socket.socket) -> None:
    port = udp_sink.getsockname()[1]
    assert control(lambda: send_datagram(port)) == 4
    assert udp_sink.recv(16) == b"leak"
    assert in_child(lambda: send_datagram(port), network="internal") == "EPERM"
    udp_sink.sendto(b"sentinel", udp_sink.getsockname())
    assert udp_sink.recv(16) == b"sentinel"


def test_allow_udp_when_network_is_full(udp_sink: socket.socket) -> None:
    port = udp_sink.getsockname()[1]
    assert in_child(lambda: send_datagram(port), network="full") == 4
    assert udp_sink.recv(16) == b"leak"


def connect_to(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port)):
        return "connected"


def test_deny_any_inet_socket_when_network_is_none() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.settimeout(10)
        assert control(lambda: connect_to(port)) == "connected"
        server.accept()[0].close()
        assert in_child(lambda: connect_to(port), network="none") == "EPERM"
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()


def test_allow_tcp_when_network_is_internal() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        assert (
            in_child(lambda: connect_to(server.getsockname()[1]), network="internal") == "connected"
        )
        server.accept()[0].close()


def open_socket(family: int, kind: int, proto: int = 0) -> str:
    socket.socket(family, kind, proto).close()
    return "opened"


IPPROTO_MPTCP, NETLINK_KOBJECT_UEVENT, AF_ALG = 262, 15, 38
DENIED_EVEN_WITH_FULL_NETWORK = {
    "raw-icmp": (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    "packet": (socket.AF_PACKET, socket.SOCK_RAW, 0),
    "netlink-uevent": (socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_KOBJECT_UEVENT),
    "kernel-crypto": (AF_ALG, socket.SOCK_SEQPACKET, 0),
    "mptcp": (socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP),
}


@pytest.mark.parametrize(
    "spec", DENIED_EVEN_WITH_FULL_NETWORK.values(), ids=DENIED_EVEN_WITH_FULL_NETWORK
)
def test_deny_socket_families_never_granted(spec: tuple[int, int, int]) -> None:
    before = [] if os.geteuid() == 0 else [own_network_namespace]
    assert control(lambda: open_socket(*spec), before=before) == "opened"
    assert in_child(lambda: open_socket(*spec), network="full", before=before) == "EPERM"


def own_network_namespace() -> None:
    """Unprivileged, hold CAP_NET_RAW over a network namespace of the child's own."""
    _libc.call("unshare", CLONE_NEWUSER | CLONE_NEWNET)


def test_allow_socketpair_and_route_netlink_sockets_without_network() -> None:
    def local_plumbing() -> list[str]:
        a, b = socket.socketpair()
        a.sendall(b"hi")
        return [b.recv(2).decode(), open_socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)]

    assert in_child(local_plumbing, network="none") == ["hi", "opened"]


def test_deny_unix_sockets_below_full_network() -> None:
    """connect() to a host's pathname socket is out of Landlock's reach: no socket to do it with."""
    spec = (socket.AF_UNIX, socket.SOCK_STREAM)
    assert control(lambda: open_socket(*spec)) == "opened"
    for network in ("none", "internal", "restricted"):
        assert in_child(lambda: open_socket(*spec), network=network) == "EPERM"
    assert in_child(lambda: open_socket(*spec), network="full") == "opened"


# --- processes and threads ---------------------------------------------------------------


def test_allow_threads_fork_and_subprocess() -> None:
    def ordinary_work() -> list[object]:
        seen: list[object] = []
        worker = threading.Thread(target=lambda: seen.append("thread"))
        worker.start()
        worker.join()
        pid = os.fork()
        if pid == 0:
            os._exit(3)
        seen.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        seen.append(subprocess.run(["/bin/true"], check=False).returncode)
        return seen

    assert in_child(ordinary_work) == ["thread", 3, 0]


def test_clone3_answers_enosys_so_libc_falls_back_to_clone() -> None:
    assert in_child(lambda: raw("clone3", None, 0), filtered=False) == "EINVAL"  # size 0
    assert in_child(lambda: raw("clone3", None, 0)) == "ENOSYS"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 exists only on x86_64")
def test_deny_x32_syscalls_kill_the_process() -> None:
    x32_getpid = 0x40000000 | 39

    def body(_chan: Channel) -> object:
        seccomp.apply(EnforcementPlan())
        return attempt(lambda: raw_nr(x32_getpid))

    assert run(body).signal == signal.SIGSYS


def raw_nr(number: int) -> int:
    _libc.libc.syscall.restype = ctypes.c_long
    return int(_libc.libc.syscall(ctypes.c_long(number)))


# --- probes and refusals -------------------------------------------------------------------


def test_deny_apply_when_kernel_refuses_filters() -> None:
    def without_filters(_chan: Channel) -> object:
        refuse_syscall("seccomp", errno.EINVAL)
        try:
            seccomp.apply(EnforcementPlan())
        except SandboxUnavailable as exc:
            return [seccomp.available(), exc.layer, str(exc)]
        return "applied"

    available, layer, message = run(without_filters).value
    assert (available, layer) == (False, "seccomp")
    assert "CONFIG_SECCOMP_FILTER" in message


def test_deny_unknown_architecture() -> None:
    with pytest.raises(SandboxUnavailable, match="riscv64"):
        seccomp.program_for("none", "riscv64")


# --- the program as data, on every architecture it supports -------------------------------
#
# A small classic-BPF interpreter runs the assembled program the way the kernel
# would, so the aarch64 filter is checked on an x86_64 machine too.


def decide(program: bytes, machine: str, nr: int, *args: int, arch: int | None = None) -> int:
    """The seccomp action ``program`` returns for one syscall."""
    arch = seccomp.AUDIT_ARCH[machine] if arch is None else arch
    padded = (*args, 0, 0, 0, 0, 0, 0)[:6]
    data = struct.pack("=iIQ6Q", nr, arch, 0, *padded)
    ops = list(struct.iter_unpack("=HBBI", program))
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = ops[pc]
        pc += 1
        if code == 0x06:
            return int(k)
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x54:
            acc &= k
        elif code == 0x05:
            pc += k
        elif code in (0x15, 0x45):
            hit = acc == k if code == 0x15 else bool(acc & k)
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


EPERM = seccomp.RET_ERRNO | errno.EPERM
ALLOW = seccomp.RET_ALLOW
MACHINES = sorted(seccomp.AUDIT_ARCH)


@pytest.mark.parametrize("machine", MACHINES)
def test_program_denies_every_listed_call(machine: str) -> None:
    program, numbers = seccomp.program_for("full", machine), _libc._SYSCALLS[machine]
    listed = [name for name in seccomp.DENIED if name in numbers]
    assert len(listed) >= 45
    assert {name: decide(program, machine, numbers[name]) for name in listed} == dict.fromkeys(
        listed, EPERM
    )
    for allowed in ("openat", "prctl", "capget", "landlock_restrict_self"):
        assert decide(program, machine, numbers[allowed]) == ALLOW


@pytest.mark.parametrize("machine", MACHINES)
def test_program_kills_foreign_architectures(machine: str) -> None:
    program = seccomp.program_for("none", machine)
    audit_arch_i386 = 0x40000003
    assert decide(program, machine, 0, arch=audit_arch_i386) == seccomp.RET_KILL_PROCESS


@pytest.mark.parametrize("machine", MACHINES)
def test_program_reads_clone_flags_ioctl_requests_and_personality(machine: str) -> None:
    program, n = seccomp.program_for("none", machine), _libc._SYSCALLS[machine]
    thread_flags = 0x3D0F00  # what glibc passes for pthread_create
    for flag in (
        0x80,
        0x20000,
        0x02000000,
        0x04000000,
        0x08000000,
        0x10000000,
        0x20000000,
        0x40000000,
    ):
        assert decide(program, machine, n["clone"], flag | signal.SIGCHLD) == EPERM
    assert decide(program, machine, n["clone"], thread_flags) == ALLOW
    assert decide(program, machine, n["clone3"]) == seccomp.RET_ERRNO | errno.ENOSYS
    assert decide(program, machine, n["ioctl"], 0, 1 << 32 | termios.TIOCSTI) == EPERM
    assert decide(program, machine, n["ioctl"], 0, termios.TIOCGWINSZ) == ALLOW
    assert decide(program, machine, n["personality"], 0xFFFFFFFF) == ALLOW


SOCKETS = {  # (family, type, protocol) -> allowed at none, internal/restricted, full
    (socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC, 0): (False, False, True),
    (socket.AF_NETLINK, socket.SOCK_RAW, 0): (True, True, True),
    (socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0): (False, True, True),
    (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP): (False, True, True),
    (socket.AF_INET, socket.SOCK_DGRAM, 0): (False, False, True),
    (socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP): (False, False, True),
    (socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP): (False, False, False),
    (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP): (False, False, False),
    (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP): (False, False, False),
    (socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_KOBJECT_UEVENT): (False, False, False),
    (socket.AF_PACKET, socket.SOCK_RAW, 0): (False, False, False),
}


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("network", ["none", "internal", "restricted", "full"])
def test_program_socket_matrix(machine: str, network: str) -> None:
    program, n = seccomp.program_for(network, machine), _libc._SYSCALLS[machine]
    column = {"none": 0, "internal": 1, "restricted": 1, "full": 2}[network]
    expected = {spec: ALLOW if allowed[column] else EPERM for spec, allowed in SOCKETS.items()}
    assert {spec: decide(program, machine, n["socket"], *spec) for spec in SOCKETS} == expected
    assert decide(program, machine, n["socketpair"], socket.AF_UNIX, socket.SOCK_STREAM) == ALLOW
    assert decide(program, machine, n["socketpair"], socket.AF_INET, socket.SOCK_STREAM) == EPERM
