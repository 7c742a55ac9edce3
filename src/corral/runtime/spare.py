"""One spare worker process per host, forked ahead of time and already in a fresh cgroup.

Under cgroup v1 a process joining a group waits for an RCU grace period
(10-20 ms on a loaded machine), the largest part of a cold start. The host
keeps one spare: a group made without limits and a zygote child that joined
it while nothing was waiting. Starting a worker takes the spare: the group
gets the grant's limits and the worker's name, the spec names the spare, and
the zygote hands the spawn to it; the child then confines itself exactly as a
fresh one would (only the join is already done). Everything that depends on
the grant (namespaces, mounts, uid, Landlock, seccomp) still happens after.

The spare is grant-free: forked from the zygote, it holds nothing of the
host's and runs no plugin code until it becomes a worker. It dies with the
zygote (closed by ``Host.close`` or dead with the host), and ``close`` then
removes its group; a host that was killed leaves an empty group that the next
host sweeps like any other.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass

from corral.errors import SandboxUnavailable
from corral.policy import ResourceLimits
from corral.runtime.zygote import ZygoteClient
from corral.sandbox.cgroups import CgroupSet

PREFIX = "spare-"


@dataclass(frozen=True)
class Taken:
    """A spare taken for a worker: its group (renamed, limits set) and the name to ask for."""

    group: CgroupSet
    spare: str


class SpareSlot:
    """At most one spare at a time; thread-safe, since workers start from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._group: CgroupSet | None = None
        self._closed = False
        self._filler: threading.Thread | None = None

    def refill_soon(self, zygote: ZygoteClient) -> None:
        """``refill`` on a thread: making the group and asking the zygote stay off the load path."""
        filler = threading.Thread(target=self.refill, args=(zygote,), name="corral-spare")
        with self._lock:  # started under the lock: ``close`` never joins an unstarted thread
            if self._closed:
                return
            self._filler = filler
            filler.start()

    def take(self, name: str, limits: ResourceLimits) -> Taken | None:
        """The spare's group for a worker called ``name``, or None if there is no spare."""
        with self._lock:
            group, self._group = self._group, None
        if group is None:
            return None
        try:
            group.set_limits(
                memory_mb=limits.memory_mb,
                processes=limits.processes,
                cpu_percent=limits.cpu_percent,
            )
            return Taken(group.renamed(name), group.name)
        except OSError:
            _discard(group)  # a fresh group then: never a worker under missing limits
            return None

    def refill(self, zygote: ZygoteClient) -> None:
        """Fork a new spare unless one is waiting; a failure only means the next start is slower."""
        with self._lock:
            if self._group is not None or self._closed:
                return
            try:
                group = CgroupSet.create(
                    f"{PREFIX}{uuid.uuid4().hex[:12]}", memory_mb=0, processes=0, cpu_percent=0
                )
            except SandboxUnavailable:
                return
            try:
                zygote.prefork(group.name)
            except OSError:
                _discard(group)
                return
            self._group = group

    def close(self) -> None:
        """After the zygote is closed (its spare died with it): remove the spare's group."""
        with self._lock:
            self._closed = True
            filler = self._filler
        if filler is not None:
            filler.join()
        with self._lock:
            group, self._group, self._closed = self._group, None, True
        if group is not None:
            _discard(group)


def _discard(group: CgroupSet) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        group.kill_all()
        group.destroy()
