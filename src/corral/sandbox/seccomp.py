"""seccomp: shrink the kernel surface the pen can reach, answering EPERM.

Landlock decides *what* a plugin may touch; this filter decides which kernel
interfaces it may use at all. It removes the calls that let a process reach
outside its pen without touching a path (ptrace, another process's memory,
namespaces, mounts, kernel keyrings, module loading) and the interfaces with a
long exploit history that no ordinary plugin needs (bpf, perf, userfaultfd,
io_uring). Denials return EPERM, so Python raises an ordinary PermissionError
the plugin can read, instead of a dead worker.

The filter is an allow-by-default list: it names what is refused and lets the
rest through (the kernel's other layers still apply). Arguments are inspected
where BPF can see them: ``clone`` flags, ``ioctl`` requests, ``socket``
families and types. ``clone3`` keeps its flags behind a pointer, so it answers
ENOSYS and glibc falls back to ``clone``, which the filter can read.

The program is classic BPF assembled here from ``sock_filter`` records; it is
pure data that depends only on the architecture and the network level, so it
is built once per process and cached.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import _libc, caps

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
_SET_MODE_FILTER = 1
_GET_ACTION_AVAIL = 2

# Why each call is refused. Names unknown on an architecture are skipped there.
DENIED: dict[str, str] = {
    "ptrace": "reads and steers another process",
    "process_vm_readv": "reads another process's memory",
    "process_vm_writev": "writes another process's memory",
    "kcmp": "probes another process's files and memory",
    "pidfd_getfd": "takes a file descriptor out of another process",
    "process_madvise": "acts on another process's memory",
    "unshare": "new namespaces unlock kernel surface meant for container managers",
    "setns": "joins another namespace",
    "mount": "reshapes the file tree that Landlock reasons about",
    "umount2": "can uncover paths hidden under the pen's mounts",
    "pivot_root": "reshapes the file tree",
    "chroot": "reshapes the file tree",
    "move_mount": "new mount API: reshapes the file tree",
    "open_tree": "new mount API: clones mounts",
    "open_tree_attr": "new mount API: clones mounts with new attributes",
    "fsopen": "new mount API: creates filesystems",
    "fsconfig": "new mount API: configures filesystems",
    "fsmount": "new mount API: creates mounts",
    "fspick": "new mount API: reconfigures mounts",
    "mount_setattr": "changes mount flags such as read-only",
    "bpf": "loads programs into the kernel",
    "perf_event_open": "kernel profiling: side channels and a long exploit history",
    "userfaultfd": "pauses the kernel mid-copy, a staple of exploit races",
    "io_uring_setup": "a second syscall path the filter cannot inspect",
    "io_uring_enter": "a second syscall path the filter cannot inspect",
    "io_uring_register": "a second syscall path the filter cannot inspect",
    "keyctl": "kernel keyrings are shared beyond the pen",
    "add_key": "kernel keyrings are shared beyond the pen",
    "request_key": "kernel keyrings are shared beyond the pen",
    "init_module": "loads kernel code",
    "finit_module": "loads kernel code",
    "delete_module": "unloads kernel code",
    "kexec_load": "replaces the running kernel",
    "kexec_file_load": "replaces the running kernel",
    "reboot": "stops the machine",
    "swapon": "changes host swap",
    "swapoff": "changes host swap",
    "acct": "writes host process accounting",
    "name_to_handle_at": "file handles bypass path checks (the 'shocker' escape)",
    "open_by_handle_at": "file handles bypass path checks (the 'shocker' escape)",
    "syslog": "reads the kernel log",
    "quotactl": "changes filesystem quotas",
    "quotactl_fd": "changes filesystem quotas",
    "lookup_dcookie": "resolves kernel directory cookies",
    "fanotify_init": "watches filesystem events beyond the pen",
    "vhangup": "hangs up the controlling terminal",
    "nfsservctl": "controls the kernel NFS server",
    "settimeofday": "sets the host clock",
    "clock_settime": "sets the host clock",
    "uselib": "legacy library loading (x86 only)",
    "iopl": "raw I/O port access (x86 only)",
    "ioperm": "raw I/O port access (x86 only)",
}

CLONE_NEW_FLAGS = (  # NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
    0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C  # fake terminal input; console control
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_TYPE_MASK = 1, 2, 0xF
IPPROTO_TCP, IPPROTO_UDP, NETLINK_ROUTE = 6, 17, 0
PER_LINUX, PER_QUERY = 0, 0xFFFFFFFF

# Classic BPF opcodes (linux/filter.h) and seccomp_data offsets (linux/seccomp.h).
_LD_ABS, _JEQ, _JSET, _AND, _RET = 0x20, 0x15, 0x45, 0x54, 0x06
_OFF_NR, _OFF_ARCH = 0, 4


def _arg(index: int) -> int:
    """Offset of the low 32 bits of argument ``index`` (little-endian targets only).

    Only the low half is ever compared: the kernel itself truncates the
    arguments checked here (socket's ints, ioctl's request, clone's flags) to
    32 bits, so high bits a caller sets cannot smuggle a value past the check.
    """
    return 16 + 8 * index


@dataclass(frozen=True)
class _Op:
    """One sock_filter; a jump target is a label name or a raw offset."""

    code: int
    k: int = 0
    jt: str | int = 0
    jf: str | int = 0


@dataclass(frozen=True)
class _Label:
    name: str


_Asm = Sequence[_Op | _Label]


def _assemble(program: _Asm) -> bytes:
    """Resolve labels to forward offsets and pack ``struct sock_filter`` records."""
    where: dict[str, int] = {}
    index = 0
    for item in program:
        if isinstance(item, _Label):
            where[item.name] = index
        else:
            index += 1
    out = bytearray()
    for pc, op in enumerate(i for i in program if isinstance(i, _Op)):
        jt, jf = (_offset(target, pc, where) for target in (op.jt, op.jf))
        out += struct.pack("=HBBI", op.code, jt, jf, op.k)
    return bytes(out)


def _offset(target: str | int, pc: int, where: dict[str, int]) -> int:
    """A conditional jump's 8-bit forward offset; classic BPF cannot jump back or far."""
    if isinstance(target, int):
        return target
    distance = where[target] - pc - 1
    if not 0 <= distance <= 0xFF:
        raise ValueError(f"BPF jump to {target!r} out of range ({distance})")
    return distance


def _jeq(k: int, jt: str | int = 0, jf: str | int = 0) -> _Op:
    return _Op(_JEQ, k, jt, jf)


def _load(offset: int) -> _Op:
    return _Op(_LD_ABS, offset)


@lru_cache(maxsize=16)
def program_for(network: str, machine: str = _libc.MACHINE) -> bytes:
    """The filter for a network level on ``machine``, as packed sock_filter records."""
    if machine not in AUDIT_ARCH:
        raise SandboxUnavailable("seccomp", f"no filter for architecture {machine}")
    numbers = _libc._SYSCALLS[machine]  # by machine, so other architectures can be checked
    ops: list[_Op | _Label] = [
        _load(_OFF_ARCH), _jeq(AUDIT_ARCH[machine], 0, "kill"), _load(_OFF_NR),
    ]  # fmt: skip
    if machine == "x86_64":
        ops.append(_Op(_JSET, X32_SYSCALL_BIT, "kill", 0))
    ops += [_jeq(numbers[name], "eperm") for name in DENIED if name in numbers]
    ops += [
        _jeq(numbers["clone3"], "enosys"),
        _jeq(numbers["clone"], "clone"),
        _jeq(numbers["ioctl"], "ioctl"),
        _jeq(numbers["socket"], "socket"),
        _jeq(numbers["socketpair"], "socketpair"),
        _jeq(numbers["personality"], "personality"),
        _Op(_RET, RET_ALLOW),
    ]
    ops += _argument_checks() + _socket_checks(network) + _returns()
    return _assemble(ops)


def _argument_checks() -> list[_Op | _Label]:
    return [
        _Label("clone"), _load(_arg(0)), _Op(_JSET, CLONE_NEW_FLAGS, "eperm", "allow"),
        _Label("ioctl"), _load(_arg(1)), _jeq(TIOCSTI, "eperm"), _jeq(TIOCLINUX, "eperm", "allow"),
        _Label("socketpair"), _load(_arg(0)), _jeq(AF_UNIX, "allow", "eperm"),
        _Label("personality"), _load(_arg(0)), _jeq(PER_LINUX, "allow"),
        _jeq(PER_QUERY, "allow", "eperm"),
    ]  # fmt: skip


def _socket_checks(network: str) -> list[_Op | _Label]:
    """NETLINK_ROUTE for getaddrinfo; TCP unless ``none``; UDP and AF_UNIX only for ``full``.

    A pathname unix socket is reached with connect(), which Landlock (to ABI 7)
    does not govern and seccomp cannot see the path of; so below ``full`` the
    pen gets no AF_UNIX socket from socket() at all. ``socketpair()`` (pipes,
    asyncio's self-pipe) stays allowed, and the IPC channel arrives already open.
    """
    inet = "eperm" if network == "none" else "inet"
    unix = "allow" if network == "full" else "eperm"
    return [
        _Label("socket"), _load(_arg(0)), _jeq(AF_UNIX, unix), _jeq(AF_INET, inet),
        _jeq(AF_INET6, inet), _jeq(AF_NETLINK, 0, "eperm"),
        _load(_arg(2)), _jeq(NETLINK_ROUTE, "allow", "eperm"),
        _Label("inet"), _load(_arg(1)), _Op(_AND, SOCK_TYPE_MASK), _jeq(SOCK_STREAM, "tcp"),
        _jeq(SOCK_DGRAM, "udp" if network == "full" else "eperm", "eperm"),
        _Label("tcp"), _load(_arg(2)), _jeq(0, "allow"), _jeq(IPPROTO_TCP, "allow", "eperm"),
        _Label("udp"), _load(_arg(2)), _jeq(0, "allow"), _jeq(IPPROTO_UDP, "allow", "eperm"),
    ]  # fmt: skip


def _returns() -> list[_Op | _Label]:
    return [
        _Label("allow"), _Op(_RET, RET_ALLOW),
        _Label("eperm"), _Op(_RET, RET_ERRNO | errno.EPERM),
        _Label("enosys"), _Op(_RET, RET_ERRNO | errno.ENOSYS),
        _Label("kill"), _Op(_RET, RET_KILL_PROCESS),
    ]  # fmt: skip


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def available() -> bool:
    """Whether this kernel can load the filter: seccomp filters with ERRNO and KILL_PROCESS."""
    if _libc.MACHINE not in AUDIT_ARCH:
        return False
    for action in (RET_ERRNO, RET_KILL_PROCESS):
        try:
            value = ctypes.c_uint32(action)
            _libc.syscall("seccomp", _GET_ACTION_AVAIL, 0, ctypes.byref(value))
        except OSError:
            return False
    return True


def apply(plan: EnforcementPlan) -> None:
    """Load the filter for ``plan.network`` on the calling thread; children inherit it.

    Sets no_new_privs first, which the kernel requires of a process without
    CAP_SYS_ADMIN. Raises SandboxUnavailable if the kernel refuses the filter.
    """
    program = program_for(plan.network)
    caps.no_new_privs()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    try:
        _libc.syscall("seccomp", _SET_MODE_FILTER, 0, ctypes.byref(fprog))
    except OSError as exc:
        raise SandboxUnavailable(
            "seccomp", f"needs Linux 3.17+ with CONFIG_SECCOMP_FILTER; loading failed: {exc}"
        ) from exc
