"""A pen's processes and their CPU time, read from /proc outside the pen.

Used where a worker has no cgroup to list its processes (a host without root,
or ``isolation="process"``): per call by ``WorkerProcess`` and per round by the
monitor. ``psutil``'s ``children(recursive=True)`` reads every process on the
machine to build a parent map, which cost milliseconds each time; the kernel's
per-task ``children`` lists cost microseconds.
"""

from __future__ import annotations

import contextlib
import os

TICKS = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """``root`` and its descendants, from each task's ``children`` file."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with (
                    contextlib.suppress(OSError, ValueError),
                    open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh,
                ):
                    pending.extend(int(child) for child in fh.read().split())
    return found


def cpu_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of ``pid``, in clock ticks (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0
    # After the command name: state is field 3, utime..cstime are fields 14-17.
    return sum(int(value) for value in fields[11:15])
