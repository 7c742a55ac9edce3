"""The engine's own hard process and open-file limits, which Podman must be told.

Docker leaves ``nproc`` and ``nofile`` alone unless asked, so a container
inherits the daemon's limits. Podman 4.3 (rootful) instead writes 1048576 for
both into every container's OCI spec, and runc must then *raise* the
container's hard limits to that. Raising a hard limit needs
``CAP_SYS_RESOURCE`` in the initial user namespace; where the machine's
bounding set lacks it (this one does) or the engine's limit is lower, runc
fails with "error setting rlimit type 6 (RLIMIT_NPROC): operation not
permitted" (type 7 for ``RLIMIT_NOFILE``). Podman's ``-1`` ("the current
maximum") is not honoured by its compatible API: it becomes infinity.

So for Podman the backend passes both limits explicitly, at the engine's own
hard values: what Docker gives by inheritance, and never more than runc may
set. This is not a barrier and replaces none: the process barrier of a
container is its pids cgroup (``pids_limit``), as under Docker.
``RLIMIT_NPROC`` counts every task of the uid on the host, so it could not
bound one container anyway.

The engine's process is found from its socket's peer credentials
(``SO_PEERCRED``). An engine reached over TCP cannot be read; this process's
own hard limits are the guess then, and when they are too high the engine
refuses to start the worker, which is ``SandboxUnavailable`` with its words.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import struct

import psutil

from corral.runtime.container.config import ContainerConfig

LIMITS = {"nproc": resource.RLIMIT_NPROC, "nofile": resource.RLIMIT_NOFILE}
_UCRED = struct.Struct("3i")  # pid, uid, gid


def engine_limits(config: ContainerConfig) -> dict[str, int]:
    """``{"nproc": hard, "nofile": hard}`` to pass to Podman; empty for Docker."""
    if config.engine != "podman":
        return {}
    pid = engine_pid(config.base_url)
    limits: dict[str, int] = {}
    for name, which in LIMITS.items():
        hard = _hard_of(pid, which)
        if hard != resource.RLIM_INFINITY:  # infinity: Podman's own default fits under it
            limits[name] = hard
    return limits


def engine_pid(base_url: str) -> int | None:
    """The pid serving a local unix socket URL, or None (TCP, or no answer)."""
    if not base_url.startswith("unix://"):
        return None
    path = base_url.removeprefix("unix://")
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(path)
        pid, _, _ = _UCRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
        return pid if pid > 0 else None
    return None


def _hard_of(pid: int | None, which: int) -> int:
    """The hard limit of ``pid`` (this process when None or unreadable)."""
    if pid is not None:
        with contextlib.suppress(psutil.Error, OSError):
            return int(psutil.Process(pid).rlimit(which)[1])
    return resource.getrlimit(which)[1]
