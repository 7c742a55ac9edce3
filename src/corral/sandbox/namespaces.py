"""Linux namespaces: what of the host the pen can see at all.

A namespace does not forbid anything; it replaces the world. In a fresh pid
namespace the host's processes do not exist, so there is nothing to signal or
trace; in a fresh network namespace there is no route anywhere, so no connect
can be allowed by mistake. That is why namespaces come before the finer
layers: Landlock and seccomp then only have to police a small world.

Each namespace is unshared on its own, so a refusal names the exact layer
that this machine lacks (one combined ``unshare`` would only say EPERM).

A new pid namespace applies to children only, so the caller forks once
(:func:`split_reaper`): the parent stays outside, waits, and hands the pen's
exit status to whoever waits for it (the zygote's ``wait4`` then reports the
pen's status and rusage); the child becomes pid 1 of the pen.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import select
import signal
import socket
import struct
from collections.abc import Iterable, Sequence
from typing import NoReturn

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import _libc

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

FLAGS = {
    "userns": CLONE_NEWUSER,
    "mountns": CLONE_NEWNS,
    "pidns": CLONE_NEWPID,
    "ipcns": CLONE_NEWIPC,
    "utsns": CLONE_NEWUTS,
    "netns": CLONE_NEWNET,
}
"""Plan layer -> clone flag, in the order they are unshared (user first: it owns the rest)."""

REQUIREMENTS = {
    "userns": "user namespaces (CONFIG_USER_NS, user.max_user_namespaces > 0, "
    "unprivileged creation allowed)",
    "mountns": "mount namespaces and CAP_SYS_ADMIN (root, or a user namespace)",
    "pidns": "pid namespaces (CONFIG_PID_NS) and CAP_SYS_ADMIN (root, or a user namespace)",
    "ipcns": "IPC namespaces (CONFIG_IPC_NS) and CAP_SYS_ADMIN (root, or a user namespace)",
    "utsns": "UTS namespaces (CONFIG_UTS_NS) and CAP_SYS_ADMIN (root, or a user namespace)",
    "netns": "network namespaces (CONFIG_NET_NS) and CAP_SYS_ADMIN (root, or a user namespace)",
}

HOSTNAME = "corral"
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH22x"  # struct ifreq: name, then the ifr_flags member of the union
_MAX_FD = 2**31 - 1


def wanted(plan: EnforcementPlan, *, user: bool) -> tuple[str, ...]:
    """The namespace layers ``plan`` asks for; ``user`` says whether to include userns.

    ``network: full`` means the host's network, so no network namespace.
    """
    layers = [name for name in FLAGS if plan.layer_on(name)]
    if plan.network == "full" and "netns" in layers:
        layers.remove("netns")
    if not user and "userns" in layers:
        layers.remove("userns")
    return tuple(layers)


def unshare(layers: Sequence[str]) -> None:
    """Enter a new namespace for each layer, or raise SandboxUnavailable naming the one refused."""
    for layer in layers:
        try:
            _libc.syscall("unshare", ctypes.c_int(FLAGS[layer]))
        except OSError as exc:
            raise SandboxUnavailable(
                layer, f"unshare refused ({exc.strerror}); needs {REQUIREMENTS[layer]}"
            ) from exc


def root_own_cgroup() -> None:
    """Make the pen's cgroup the root of its view: a cgroup namespace, entered after joining.

    Without it ``/proc/self/cgroup`` (readable in every pen) names the host's
    cgroup path, which tells the plugin how the host is run and names it. Part
    of the cgroups layer: the group the pen just joined is what it may see.
    """
    try:
        _libc.syscall("unshare", ctypes.c_int(CLONE_NEWCGROUP))
    except OSError as exc:
        raise SandboxUnavailable(
            "cgroups", f"unshare(CLONE_NEWCGROUP) refused ({exc.strerror}); needs Linux 4.6+"
        ) from exc


def map_ids(uid: int, gid: int) -> None:
    """Map ``uid``/``gid`` to themselves in the user namespace just entered.

    Identity mapping (not uid 0 inside) is deliberate: the pen sees the uid
    the host sees, tools do not believe they are root, and files it creates
    in the work dir belong to that uid on the host too. ``setgroups`` must be
    denied first, or the kernel refuses an unprivileged gid map. A process
    that changed uid since its exec is not dumpable, and its ``/proc/self``
    files then belong to root: the flag is set so it can write its own maps.
    """
    try:
        _libc.prctl(_PR_SET_DUMPABLE, 1)
        _write_proc("/proc/self/setgroups", "deny")
        _write_proc("/proc/self/gid_map", f"{gid} {gid} 1\n")
        _write_proc("/proc/self/uid_map", f"{uid} {uid} 1\n")
    except OSError as exc:
        raise SandboxUnavailable(
            "userns", f"writing the id maps failed ({exc}); needs {REQUIREMENTS['userns']}"
        ) from exc


USER_LIMITS = (
    "max_user_namespaces",
    "max_mnt_namespaces",
    "max_pid_namespaces",
    "max_net_namespaces",
    "max_ipc_namespaces",
    "max_uts_namespaces",
    "max_cgroup_namespaces",
    "max_time_namespaces",
    "max_inotify_instances",
    "max_inotify_watches",
    "max_fanotify_groups",
    "max_fanotify_marks",
)
"""Per-user kernel object counts a user namespace owns (``/proc/sys/user``), all set to 0."""


def close_user_limits() -> None:
    """Set every per-user object limit of the pen's own user namespace to zero.

    This is what the user namespace adds even as root, where the uid drop,
    the empty capability sets and seccomp already hold: ``/proc/sys/user/max_*``
    belong to the namespace, are checked at every level from the caller's
    namespace up, and only its owner (holding CAP_SYS_RESOURCE there, as the
    pen does until ``caps.drop_all``) may change them. At 0 the pen can create
    no namespace of any kind (a second barrier behind seccomp's unshare and
    clone rules) and no inotify or fanotify instance. inotify needs it most:
    Landlock governs opening a file, not watching it, so a pen could otherwise
    watch host directories it may not read and learn what the host does there.
    The host's own limits are untouched. Must run after the pen's namespaces
    exist: without root they were created in this user namespace and count
    against these limits.
    """
    for name in USER_LIMITS:
        path = f"/proc/sys/user/{name}"
        try:
            _write_proc(path, "0\n")
        except OSError as exc:
            raise SandboxUnavailable(
                "userns", f"setting {path} to 0 in the pen's user namespace failed ({exc})"
            ) from exc


def _write_proc(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def become(uid: int, gid: int) -> None:
    """Drop from root to ``uid``/``gid`` for good (real, effective and saved ids).

    Dropping the uid clears the dumpable flag, which would leave
    ``/proc/self/*`` owned by root: the pen could neither write its own id
    maps nor read its own ``/proc/self``, so the flag is set back.
    """
    if uid == 0 or gid == 0:
        raise SandboxUnavailable("userns", "the pen must not run as uid or gid 0 (set pen_uid)")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _libc.prctl(_PR_SET_DUMPABLE, 1)


def set_hostname(name: str = HOSTNAME) -> None:
    """Name the pen's UTS namespace, so the host's name does not leak in."""
    raw = name.encode()
    try:
        _libc.call("sethostname", ctypes.c_char_p(raw), ctypes.c_size_t(len(raw)))
    except OSError as exc:
        raise SandboxUnavailable("utsns", f"sethostname in the new namespace: {exc}") from exc


def loopback_up() -> None:
    """Bring ``lo`` up in the pen's network namespace (it starts down).

    Done with the ioctl directly: there is no ``ip`` binary to trust here.
    """
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack(_IFREQ, b"lo", 0)
            _, flags = struct.unpack("16sH", fcntl.ioctl(sock, _SIOCGIFFLAGS, request)[:18])
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))
    except OSError as exc:
        raise SandboxUnavailable("netns", f"bringing up lo in the new namespace: {exc}") from exc


def split_reaper() -> int:
    """Fork; return in the child (pid 1 of the new pid namespace), never in the parent.

    Returns the read end of a pipe whose other end only the parent holds:
    pass it to :func:`tether` once the child's credentials are final.
    """
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        return alive_r
    try:
        os.close(alive_r)
        _relay(pid, alive_w)
    finally:
        os._exit(255)  # never let the outside half run the caller's code


def tether(alive_r: int) -> None:
    """Die with the parent: arm PDEATHSIG, then make sure the parent is still there.

    Any change of credentials clears PDEATHSIG, so this runs after the last
    one. A parent that died before the signal was armed has closed the pipe.
    """
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    parent_gone, _, _ = select.select([alive_r], [], [], 0)
    os.close(alive_r)
    if parent_gone:
        os._exit(255)


def _relay(pid: int, keep: int) -> NoReturn:
    """Wait for the pen and end exactly as it did (same exit code, or the same signal)."""
    close_fds_except({keep})
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        _die_by(os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


def close_fds_except(keep: Iterable[int]) -> None:
    """Close every descriptor not in ``keep`` (close_range underneath: no walk of 2**20 fds)."""
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:  # 3.11's closerange(0, 0) calls close_range(0, -1): it closes *every* fd
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _MAX_FD)


def _die_by(signum: int) -> NoReturn:
    """Re-raise the pen's fatal signal on this process, so the waiter sees the real cause."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, ValueError):  # SIGKILL/SIGSTOP have no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)
