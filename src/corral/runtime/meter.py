"""Per-call usage from the kernel's own counters, read from outside the pen.

A full ``CgroupSet.usage()`` reads seven files; on the call path that cost
more than the call itself, so each call reads just two counters with pread
on descriptors kept open for the worker's life.
"""

from __future__ import annotations

import os

from corral.sandbox.cgroups import CgroupSet


class Meter:
    """The cpuacct and peak-memory counters of one worker's cgroup."""

    def __init__(self, cgroup: CgroupSet) -> None:
        self._fds = [
            open_counter(cgroup, "cpuacct", "cpuacct.usage"),
            open_counter(cgroup, "memory", "memory.max_usage_in_bytes"),
            open_counter(cgroup, "memory", "memory.oom_control"),
        ]

    def _read(self, index: int) -> int:
        """A counter's value; 0 once its group is gone.

        A container's cgroup belongs to the engine, which removes it when the
        container dies however it died (ENODEV on the open descriptor); the
        call then ends as the channel says (crashed, killed), not with this.
        """
        fd = self._fds[index]
        if fd is None:
            return 0
        try:
            text = os.pread(fd, 64, 0).strip()
        except OSError:
            return 0
        return int(text) if text.isdigit() else 0

    def cpu_seconds(self) -> float:
        return self._read(0) / 1e9

    def peak_memory_mb(self) -> float:
        return self._read(1) / (1024 * 1024)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer acted (or is acting) in the group.

        Read through a descriptor opened at the worker's start, so it works
        while the group exists; once the engine has removed a container's
        group it reads as False, and the engine's own report decides.
        """
        fd = self._fds[2]
        if fd is None:
            return False
        try:
            text = os.pread(fd, 512, 0).decode("ascii", "replace")
        except OSError:
            return False
        fields = dict(line.split(maxsplit=1) for line in text.splitlines() if " " in line)
        return fields.get("oom_kill", "0").strip() != "0" or fields.get("under_oom") == "1"

    def close(self) -> None:
        for fd in self._fds:
            if fd is not None:
                os.close(fd)
        self._fds = [None, None, None]


def open_counter(cgroup: CgroupSet, controller: str, name: str) -> int | None:
    path = cgroup.path(controller)
    try:
        return os.open(path / name, os.O_RDONLY | os.O_CLOEXEC) if path else None
    except OSError:
        return None
