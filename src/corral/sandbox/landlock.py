"""Landlock: the kernel's path, port and scope allowlist for the pen.

Landlock is the barrier that makes a ``ctypes`` open, a raw ``openat`` or a
granted subprocess meet the same refusal as Python's ``open``: once the
domain is in force, every access right this ruleset *handles* is denied
unless a rule grants it beneath some path (or on some port).

The ruleset handles every right the running kernel knows, so nothing the
kernel can restrict is left open by omission; on older kernels the handled
set shrinks the way landlock(7) describes rather than failing, but a kernel
without Landlock at all is refused (fail secure, never a silent skip).

Write grants deliberately exclude EXECUTE: a plugin that could write a file
and then exec it would turn ``file:write`` into ``subprocess:execute``. Only
``exec_paths`` grant execution, and since the kernel opens the ELF
interpreter (``ld-linux``) with exec intent too, a plan that grants a dynamic
binary must grant the interpreter's path as well.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from dataclasses import dataclass

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import _libc, caps

# Filesystem rights (uapi linux/landlock.h), by the ABI that introduced them.
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_FS_BY_ABI = {2: FS_REFER, 3: FS_TRUNCATE, 5: FS_IOCTL_DEV}
# The only rights a rule may carry on a non-directory; the kernel answers EINVAL otherwise.
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

READ = FS_READ_FILE | FS_READ_DIR
EXEC = FS_EXECUTE | READ
WRITE = ((1 << 16) - 1) & ~FS_EXECUTE

_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_O_PATH = getattr(os, "O_PATH", 0o10000000)

REQUIREMENT = "needs Linux 5.13+ with CONFIG_SECURITY_LANDLOCK=y and landlock in the lsm= list"


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


@dataclass(frozen=True)
class Handled:
    """What a ruleset restricts on one ABI: everything not granted in these sets is denied."""

    abi: int
    fs: int
    net: int
    scoped: int

    @property
    def attr_size(self) -> int:
        """The ruleset attr size this ABI understands (older kernels reject larger ones)."""
        return 24 if self.abi >= 6 else 16 if self.abi >= 4 else 8


def abi_version() -> int:
    """The Landlock ABI the running kernel offers; 0 when Landlock is unavailable."""
    try:
        return _libc.syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


def handled_for(abi: int, network: str = "none") -> Handled:
    """The rights handled on ``abi``, degraded as landlock(7) prescribes.

    With ``network == "full"`` outgoing TCP is left unhandled (the host network
    is granted whole); binding still needs a granted port.
    With ``network == "internal"`` TCP is left unhandled: the pen's network
    namespace holds only its own loopback, so the namespace is the barrier
    and a plugin may talk to itself on any port.
    """
    fs = _FS_ABI1
    for since, right in _FS_BY_ABI.items():
        fs |= right if abi >= since else 0
    net = 0
    if abi >= 4 and network != "internal":
        net = NET_BIND_TCP | (0 if network == "full" else NET_CONNECT_TCP)
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return Handled(abi=abi, fs=fs, net=net, scoped=scoped)


def path_grants(plan: EnforcementPlan) -> dict[str, int]:
    """Each planned path with the union of rights it is granted (directory form).

    The plugin's own directory can always be listed (its readable files are
    named one by one in ``read_paths``, so a ``deny`` inside it holds here too)
    and the work dir is always writable. Pure: the trim to file rights happens
    at apply time, once the path is open.
    """
    listable = (*plan.list_paths, plan.plugin_dir)
    writable = (*plan.write_paths, plan.work_dir)
    grants: dict[str, int] = {}
    table = ((listable, FS_READ_DIR), (plan.read_paths, READ), (plan.exec_paths, EXEC))
    for paths, rights in (*table, (writable, WRITE)):
        for path in filter(None, paths):
            grants[path] = grants.get(path, 0) | rights
    return grants


def apply(plan: EnforcementPlan) -> None:
    """Confine the calling process (and every future child) to ``plan``'s paths and ports.

    Sets no_new_privs first, since restrict_self requires it of a process
    without CAP_SYS_ADMIN. Raises SandboxUnavailable naming the kernel
    requirement if Landlock is missing or refuses the ruleset.
    """
    abi = abi_version()
    if abi < 1:
        raise SandboxUnavailable("landlock", f"{REQUIREMENT}; this kernel reports ABI {abi}")
    handled = handled_for(abi, plan.network)
    caps.no_new_privs()
    ruleset = _create_ruleset(handled)
    try:
        for path, rights in path_grants(plan).items():
            _add_path_rule(ruleset, path, rights & handled.fs)
        _add_port_rules(ruleset, plan, handled)
        _landlock_call("landlock_restrict_self", ruleset, 0)
    finally:
        os.close(ruleset)


def _create_ruleset(handled: Handled) -> int:
    attr = _RulesetAttr(handled.fs, handled.net, handled.scoped)
    return _landlock_call("landlock_create_ruleset", ctypes.byref(attr), handled.attr_size, 0)


def _add_path_rule(ruleset: int, path: str, rights: int) -> None:
    """Grant ``rights`` beneath ``path``; a path this process cannot reach is skipped.

    Plans list optional system paths, and a path the pen's uid cannot even
    traverse (a 0700 home) is one the pen could not use anyway: leaving its
    rule out grants less, never more.
    """
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    except OSError as exc:
        raise SandboxUnavailable("landlock", f"cannot open rule path {path!r}: {exc}") from exc
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        if rights:
            rule = _PathBeneathAttr(rights, fd)
            _landlock_call("landlock_add_rule", ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)


def _add_port_rules(ruleset: int, plan: EnforcementPlan, handled: Handled) -> None:
    """One rule per granted port; no port is open unless the plan names it."""
    wanted = ((plan.tcp_connect_ports, NET_CONNECT_TCP), (plan.tcp_bind_ports, NET_BIND_TCP))
    for ports, right in wanted:
        if not handled.net & right:
            continue
        for port in ports:
            rule = _NetPortAttr(right, port)
            _landlock_call("landlock_add_rule", ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0)


def _landlock_call(name: str, *args: object) -> int:
    """A Landlock syscall whose failure means the layer cannot be applied."""
    raw = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    try:
        return _libc.syscall(name, *raw)
    except OSError as exc:
        hint = "" if exc.errno != errno.EOPNOTSUPP else f" ({REQUIREMENT})"
        raise SandboxUnavailable("landlock", f"{name} failed: {exc}{hint}") from exc
