"""The one place corral reaches libc and raw syscalls (through ctypes).

Python 3.11 has no ``os.unshare``, no Landlock and no seccomp bindings, so
every kernel layer calls through here. Syscall numbers are per architecture;
an architecture not listed is refused rather than guessed at.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)

_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "seccomp": 317,
        "unshare": 272,
        "setns": 308,
        "pidfd_open": 434,
        "capset": 126,
        "capget": 125,
        "prctl": 157,
        # seccomp filter targets and test probes (asm/unistd_64.h)
        "ptrace": 101,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "mount": 165,
        "umount2": 166,
        "pivot_root": 155,
        "chroot": 161,
        "move_mount": 429,
        "open_tree": 428,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "open_tree_attr": 467,
        "bpf": 321,
        "perf_event_open": 298,
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "userfaultfd": 323,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "init_module": 175,
        "finit_module": 313,
        "delete_module": 176,
        "kexec_load": 246,
        "kexec_file_load": 320,
        "reboot": 169,
        "swapon": 167,
        "swapoff": 168,
        "acct": 163,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "personality": 135,
        "clone": 56,
        "clone3": 435,
        "ioctl": 16,
        "socket": 41,
        "socketpair": 53,
        "kcmp": 312,
        "pidfd_getfd": 438,
        "process_madvise": 440,
        "syslog": 103,
        "quotactl": 179,
        "quotactl_fd": 443,
        "lookup_dcookie": 212,
        "fanotify_init": 300,
        "vhangup": 153,
        "nfsservctl": 180,
        "settimeofday": 164,
        "clock_settime": 227,
        "uselib": 134,
        "iopl": 172,
        "ioperm": 173,
        "openat": 257,
    },
    "aarch64": {
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "seccomp": 277,
        "unshare": 97,
        "setns": 268,
        "pidfd_open": 434,
        "capset": 91,
        "capget": 90,
        "prctl": 167,
        # seccomp filter targets and test probes (asm-generic/unistd.h)
        "ptrace": 117,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "mount": 40,
        "umount2": 39,
        "pivot_root": 41,
        "chroot": 51,
        "move_mount": 429,
        "open_tree": 428,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "open_tree_attr": 467,
        "bpf": 280,
        "perf_event_open": 241,
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "userfaultfd": 282,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "init_module": 105,
        "finit_module": 273,
        "delete_module": 106,
        "kexec_load": 104,
        "kexec_file_load": 294,
        "reboot": 142,
        "swapon": 224,
        "swapoff": 225,
        "acct": 89,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "personality": 92,
        "clone": 220,
        "clone3": 435,
        "ioctl": 29,
        "socket": 198,
        "socketpair": 199,
        "kcmp": 272,
        "pidfd_getfd": 438,
        "process_madvise": 440,
        "syslog": 116,
        "quotactl": 60,
        "quotactl_fd": 443,
        "lookup_dcookie": 18,
        "fanotify_init": 262,
        "vhangup": 58,
        "nfsservctl": 42,
        "settimeofday": 170,
        "clock_settime": 112,
        "openat": 56,
    },
}

MACHINE = platform.machine()


def syscall_number(name: str) -> int:
    """The number of ``name`` on this architecture, or OSError(ENOSYS)."""
    table = _SYSCALLS.get(MACHINE)
    if table is None or name not in table:
        raise OSError(errno.ENOSYS, f"{name} unknown on architecture {MACHINE}")
    return table[name]


def syscall(name: str, *args: Any) -> int:
    """Call a raw syscall by name; raise OSError with errno on failure."""
    _libc.syscall.restype = ctypes.c_long
    ret = int(_libc.syscall(ctypes.c_long(syscall_number(name)), *args))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return ret


def call(fn_name: str, *args: Any) -> int:
    """Call a libc function that returns -1 and sets errno on failure."""
    fn = getattr(_libc, fn_name)
    ret = int(fn(*args))
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{fn_name}: {os.strerror(err)}")
    return ret


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2) with unsigned long arguments."""
    ul = ctypes.c_ulong
    return call("prctl", ctypes.c_int(option), ul(arg2), ul(arg3), ul(arg4), ul(arg5))


libc = _libc
