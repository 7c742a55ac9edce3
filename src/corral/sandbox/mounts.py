"""The pen's own filesystem view: private scratch space, fixed plugin and work dirs, fresh /proc.

Runs inside the pen's new mount namespace, before the pen drops its
privileges. What it buys:

* ``/tmp`` and ``/dev/shm`` are the pen's own, so nothing it writes there is
  seen by the host or by another plugin, and it cannot plant files for them.
  Both live on one tmpfs sized ``disk_mb``, so the two share one budget as the
  design asks, instead of each getting a full one.
* ``/run`` is a fresh tmpfs: host sockets there (docker, dbus, postgres) vanish.
* The plugin and work dirs appear at fixed paths under ``/run/corral``. As
  root, the pen runs as an unprivileged uid that could not even traverse the
  host paths (``CORRAL_HOME`` defaults to somewhere under a 0700 ``/root``).
  The plugin dir is read-only for everyone, the pen included.
* ``/proc`` is a fresh procfs of the pen's pid namespace: it lists the pen's
  processes only.

The host-side sources are opened (``O_PATH``) before anything is mounted over
them and bound from ``/proc/self/fd``, so a source under ``/tmp`` or ``/run``
still works after those are replaced.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import _libc

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000

DEFAULT_SCRATCH_MB = 64
"""Size of the /tmp + /dev/shm tmpfs when the plan sets no ``disk_mb``."""

SCRATCH_ROOT = "/run"
SCRATCH_DIRS = {"/tmp": "/run/corral/tmp", "/dev/shm": "/run/corral/shm"}

# statvfs f_flag bits that the kernel locks on a mount seen from a user namespace;
# a remount must repeat them or it is refused. statvfs value -> mount flag.
_LOCKED_FLAGS = {
    MS_RDONLY: MS_RDONLY,
    MS_NOSUID: MS_NOSUID,
    MS_NODEV: MS_NODEV,
    MS_NOEXEC: MS_NOEXEC,
    0x400: MS_NOATIME,
    0x800: MS_NODIRATIME,
    0x1000: MS_RELATIME,
}


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2); raises OSError with the errno."""
    _libc.call(
        "mount",
        _c(source),
        _c(target),
        _c(fstype),
        ctypes.c_ulong(flags),
        _c(data or None),
    )


def _c(text: str | None) -> ctypes.c_char_p:
    return ctypes.c_char_p(None if text is None else os.fsencode(text))


def apply(plan: EnforcementPlan) -> None:
    """Build the pen's view; call in a fresh mount namespace, before the uid drop."""
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done below leaks to the host
        with ExitStack() as stack:
            sources = {
                target: stack.enter_context(_opened(source))
                for target, source in (
                    (plan.plugin_dir, plan.plugin_source),
                    (plan.work_dir, plan.work_source),
                )
                if source
            }
            hidden = {
                path: stack.enter_context(_opened(path, directory=os.path.isdir(path)))
                for path in hidden_reads(plan)
            }
            _scratch(plan.disk_mb or DEFAULT_SCRATCH_MB)
            for target, fd in sources.items():
                _bind(fd, target, read_only=target == plan.plugin_dir)
            for path, fd in hidden.items():
                _bind_back(fd, path)
    except OSError as exc:
        raise SandboxUnavailable("mountns", f"building the pen's mounts failed: {exc}") from exc
    os.chdir("/")  # the old cwd may be a host directory now hidden under a mount
    if plan.layer_on("pidns"):
        mount_proc()


def hidden_reads(plan: EnforcementPlan) -> list[str]:
    """Read paths the pen's fresh /tmp, /dev/shm and /run would hide, outermost only.

    The interpreter and corral itself may live there (a checkout under /tmp, a
    venv in it): the zygote imported most of corral before forking, but a module
    first imported in the pen, or a granted file there, must still be found.
    """
    masked = (*SCRATCH_DIRS, SCRATCH_ROOT)
    found: list[str] = []
    for path in sorted({*plan.read_paths, *plan.exec_paths}):
        inside = any(path.startswith(root + "/") for root in masked)
        if not inside or path.startswith("/run/corral/") or not os.path.exists(path):
            continue
        if not any(path.startswith(kept + "/") for kept in found):
            found.append(path)
    return found


@contextmanager
def _opened(path: str, *, directory: bool = True) -> Iterator[int]:
    """An O_PATH descriptor for a host directory (or file), closed on exit."""
    flags = os.O_PATH | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        yield fd
    finally:
        os.close(fd)


def _scratch(size_mb: int) -> None:
    """One tmpfs on /run holding the pen's /tmp and /dev/shm (sticky, world-writable)."""
    nosuid_nodev = MS_NOSUID | MS_NODEV
    mount("tmpfs", SCRATCH_ROOT, "tmpfs", nosuid_nodev, f"size={size_mb}m,mode=755")
    os.makedirs("/run/corral/plugin")
    os.makedirs("/run/corral/work")
    for target, holder in SCRATCH_DIRS.items():
        os.makedirs(holder)
        os.chmod(holder, 0o1777)  # noqa: S103 - the sticky /tmp every program expects
        mount(holder, target, None, MS_BIND)


def _bind(fd: int, target: str, *, read_only: bool) -> None:
    """Bind a host directory at ``target``; nosuid and nodev always, read-only if asked."""
    if not target.startswith("/run/corral/"):
        raise OSError(errno.EINVAL, f"{target!r}: the pen's dirs must live under /run/corral")
    os.makedirs(target, exist_ok=True)
    mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | _locked(target)
    mount(None, target, None, flags | (MS_RDONLY if read_only else 0))


def _bind_back(fd: int, path: str) -> None:
    """Bind a host path the scratch mounts hid at its own place again, read-only."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass
    mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY | _locked(path)
    mount(None, path, None, flags)


def _locked(target: str) -> int:
    """The flags the bound mount already carries (the kernel refuses to drop locked ones)."""
    current = os.statvfs(target).f_flag
    return sum(flag for bit, flag in _LOCKED_FLAGS.items() if current & bit)


def mount_proc() -> None:
    """A fresh procfs for the pen's pid namespace, over the host's /proc.

    Without root, the kernel allows this only if the host's /proc is fully
    visible (no file or directory of it over-mounted, as container runtimes
    do to mask /proc/kcore and friends: "mount_too_revealing").
    """
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:
        hint = (
            " the kernel refuses a proc mount in a user namespace while parts of the "
            "host's /proc are over-mounted (mount_too_revealing); run the host as root "
            "or use an unmasked /proc"
            if exc.errno == errno.EPERM and os.geteuid() != 0
            else ""
        )
        raise SandboxUnavailable(
            "pidns", f"mounting a fresh /proc failed ({exc.strerror});{hint}".rstrip(";")
        ) from exc
