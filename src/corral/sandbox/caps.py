"""Capabilities and no_new_privs: the pen keeps no privilege it could use or regain.

Dropping to an unprivileged uid already clears the capability sets, but not
everything that lets a process win them back: a uid-0 process inside its own
user namespace regains every capability on ``execve`` unless the bounding set
is empty or ``SECBIT_NOROOT`` is locked on, and a setuid binary grants its
owner's uid unless ``no_new_privs`` is set. So this module closes all the
doors at once, and then checks with ``capget`` that they are closed, because a
silent partial drop would be worse than a loud failure.

``no_new_privs`` is also what lets an unprivileged process install a Landlock
domain or a seccomp filter at all, which is why it is a separate, idempotent
call that both of those layers make for themselves.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from corral.errors import SandboxUnavailable
from corral.sandbox import _libc

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_CAP_VERSION_3 = 0x20080522
_MAX_CAP_PROBE = 64  # the capability sets are 64 bits wide

# Root gets no implicit capabilities on exec, uid changes drop capabilities as
# usual, keep-caps stays off, ambient capabilities cannot be raised; each bit
# is locked so the plugin cannot undo it.
SECBIT_NOROOT = 1 << 0
SECBIT_NOROOT_LOCKED = 1 << 1
SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3
SECBIT_KEEP_CAPS_LOCKED = 1 << 5
SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6
SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7
PEN_SECUREBITS = (
    SECBIT_NOROOT
    | SECBIT_NOROOT_LOCKED
    | SECBIT_NO_SETUID_FIXUP_LOCKED
    | SECBIT_KEEP_CAPS_LOCKED
    | SECBIT_NO_CAP_AMBIENT_RAISE
    | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED
)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_CapDataV3 = _CapData * 2  # version 3 splits each 64-bit set into two words


@dataclass(frozen=True)
class CapSets:
    """The calling thread's three capability sets, as 64-bit masks."""

    effective: int
    permitted: int
    inheritable: int

    @property
    def empty(self) -> bool:
        """True when the thread holds no capability in any set."""
        return not (self.effective or self.permitted or self.inheritable)


def no_new_privs() -> None:
    """Forbid this process and its descendants from gaining privileges on exec.

    Idempotent: the flag can be set any number of times and never cleared.
    """
    try:
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        raise SandboxUnavailable("caps", f"prctl(PR_SET_NO_NEW_PRIVS) failed: {exc}") from exc


def no_new_privs_set() -> bool:
    """Whether no_new_privs is on for the calling thread."""
    return _libc.prctl(PR_GET_NO_NEW_PRIVS) == 1


def current() -> CapSets:
    """Read the calling thread's capability sets with capget(2)."""
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = _CapDataV3()
    _libc.syscall("capget", ctypes.byref(header), ctypes.byref(data))
    return CapSets(
        effective=data[0].effective | data[1].effective << 32,
        permitted=data[0].permitted | data[1].permitted << 32,
        inheritable=data[0].inheritable | data[1].inheritable << 32,
    )


def current_effective() -> int:
    """The effective capability mask (0 once :func:`drop_all` has run)."""
    return current().effective


def drop_all() -> None:
    """Drop every capability, for good, and verify that none is left.

    The steps that need CAP_SETPCAP (securebits, the bounding set) come first,
    while it may still be held, and are skipped where the process lacks it:
    an unprivileged uid could not use them anyway. The final capset to empty
    sets always succeeds, since giving up capabilities needs no privilege.
    """
    _if_permitted(partial(_libc.prctl, PR_SET_SECUREBITS, PEN_SECUREBITS))
    for cap in range(_last_cap() + 1):
        _if_permitted(partial(_libc.prctl, PR_CAPBSET_DROP, cap))
    try:
        _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        header = _CapHeader(_CAP_VERSION_3, 0)
        _libc.syscall("capset", ctypes.byref(header), ctypes.byref(_CapDataV3()))
    except OSError as exc:
        raise SandboxUnavailable("caps", f"could not clear capability sets: {exc}") from exc
    left = current()
    if not left.empty:
        raise SandboxUnavailable("caps", f"capabilities survived the drop: {left}")


def _last_cap() -> int:
    """The highest capability this kernel knows, asked of the kernel itself.

    Probing with PR_CAPBSET_READ works before /proc is mounted in the pen and
    cannot be fooled by a /proc the plugin's namespace controls.
    """
    for cap in range(_MAX_CAP_PROBE):
        try:
            _libc.prctl(PR_CAPBSET_READ, cap)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return cap - 1
            raise SandboxUnavailable("caps", f"prctl(PR_CAPBSET_READ) failed: {exc}") from exc
    return _MAX_CAP_PROBE - 1


def _if_permitted(step: Callable[[], object]) -> None:
    """Run a hardening step that needs CAP_SETPCAP; without it, there is nothing to harden."""
    try:
        step()
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise SandboxUnavailable("caps", f"capability hardening failed: {exc}") from exc
