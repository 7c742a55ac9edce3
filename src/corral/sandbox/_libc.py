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
