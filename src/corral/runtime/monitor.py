"""The sampler: every worker's usage read from outside its pen, on one thread per host.

Nothing here touches a worker's channel: a plugin busy in a long call, or one
that stopped reading, is measured all the same, from psutil on its processes,
its cgroup's counters and a walk of its ``$WORK``. What a plugin cannot reach
it cannot falsify (DESIGN.md, "What the host believes").

Each round compares a plugin's sample with its limits: at ``warn_fraction``
(80 %) a "limit.warning" event, once per crossing; at 100 % of a limit the
kernel does not enforce by itself (disk in ``$WORK``, which is a bind mount
bounded only per file; tasks; open files; CPU share without a cpu cgroup) a
"limit.breached" event and a resource violation, answered by policy. Memory
and CPU seconds are enforced by the kernel, so they only warn here.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from corral.limits import DEFAULT_LIMITS
from corral.netproxy import NetUsage
from corral.runtime import proctree
from corral.sandbox.rlimits import task_limit

if TYPE_CHECKING:
    from corral.runtime.handle import PluginHandle
    from corral.runtime.host import Host

MIB = 1024 * 1024
RATE_WINDOW = 1.0
STORE_EVERY = 5.0
"""Seconds between writes of usage peaks to ``corral.db`` (and one at close): a
commit per round would cost more than the round."""
VULN_PROBE_SECONDS = 3600.0
"""How often (host clock) the monitor asks whether the vulnerability check is overdue."""


@dataclass(frozen=True)
class Sample:
    """One plugin's usage at one moment, summed over its live workers.

    ``net_connections`` (open now) and ``net_bytes`` (in and out, so far) come
    from the filtering proxy, which counts them outside the pen; they stay 0 for
    a plugin that never used the proxy (levels other than ``restricted``).
    """

    time: float
    plugin: str
    workers: int = 0
    cpu_seconds: float = 0.0
    cpu_percent: float = 0.0
    memory_mb: float = 0.0
    processes: int = 0
    tasks: int = 0
    open_files: int = 0
    disk_mb: float = 0.0
    disk_complete: bool = True
    """False when ``$WORK`` held more entries than the walk may count: ``disk_mb`` is a floor."""
    hostcalls_per_second: float = 0.0
    net_connections: int = 0
    net_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class _Reading:
    cpu_seconds: float = 0.0
    memory_mb: float = 0.0
    processes: int = 0
    tasks: int = 0
    open_files: int = 0
    cgroup_cpu: bool = False


def read_worker(pid: int, cgroup: Any) -> _Reading:
    """One worker's processes from /proc (psutil) and, where it has one, its cgroup."""
    reading = _Reading()
    procs = _processes(pid, cgroup)
    rss = 0
    for proc in procs:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                reading.cpu_seconds += times.user + times.system
                reading.tasks += proc.num_threads()
                reading.open_files = max(reading.open_files, proc.num_fds())
                rss += proc.memory_info().rss
                reading.processes += 1
        except psutil.Error:
            continue
    reading.memory_mb = rss / MIB
    if cgroup is not None:
        usage = cgroup.usage()
        if cgroup.path("memory") is not None:
            reading.memory_mb = usage.memory_bytes / MIB
        if cgroup.path("pids") is not None:
            reading.tasks = usage.tasks
        if cgroup.path("cpuacct") is not None:
            reading.cpu_seconds = usage.cpu_ns / 1e9
        reading.cgroup_cpu = cgroup.path("cpu") is not None
    return reading


def _processes(pid: int, cgroup: Any) -> list[psutil.Process]:
    """The pen's processes: its cgroup's list where it has one, else the tree under ``pid``."""
    pids = set(cgroup.procs()) if cgroup is not None else set()
    found = []
    for each in sorted(pids | {pid}) if pids else proctree.tree(pid):
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(each))
    return found


def disk_used_mb(root: Path, cap: int = DEFAULT_LIMITS.disk_scan_entries) -> float:
    """Blocks allocated under ``root`` in MiB, a floor when it holds more than ``cap`` entries."""
    return disk_usage(root, cap)[0]


def disk_usage(root: Path, cap: int = DEFAULT_LIMITS.disk_scan_entries) -> tuple[float, bool]:
    """(MiB allocated under ``root``, whether every entry was counted), walking at most ``cap``.

    Sparse holes do not count.

    The tree belongs to the plugin, which may swap a directory for a symlink
    while the host walks it: every directory is opened relative to its
    parent's descriptor with ``O_NOFOLLOW``, so the walk never leaves
    ``root``; depth and entries are capped, so a hostile tree costs bounded time.
    """
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return 0.0, True
    budget = [cap]
    try:
        return _walk(fd, budget, 0) / MIB, budget[0] >= 0
    finally:
        os.close(fd)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_DEPTH = 64


def _walk(fd: int, budget: list[int], depth: int) -> int:
    total = 0
    with os.scandir(fd) as entries:
        for entry in entries:
            budget[0] -= 1
            if budget[0] < 0:
                break
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if depth < _MAX_DEPTH and entry.is_dir(follow_symlinks=False):
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                    try:
                        total += _walk(child, budget, depth + 1)
                    finally:
                        os.close(child)
            except OSError:
                continue  # vanished, swapped for a link, or not ours to read: not counted
    return total


class Monitor:
    """Samples every plugin of one host at ``monitoring.interval_seconds``."""

    def __init__(self, host: Host) -> None:
        self._host = host
        settings = host.policy.monitoring
        self.interval = settings.interval_seconds
        self.warn_fraction = settings.warn_fraction
        self._history: dict[str, collections.deque[Sample]] = {}
        self._size = settings.history
        self._levels: dict[tuple[str, str], int] = {}
        self._last: dict[str, tuple[float, float, int]] = {}  # plugin -> (time, cpu, hostcalls)
        self._rate: dict[str, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tick_lock = threading.Lock()
        self._unstored: dict[str, tuple[int, dict[str, float], dict[str, float]]] = {}
        self._stored_at = 0.0
        self._vuln_probe_at = 0.0

    # --- the thread --------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="corral-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._tick_lock:
            self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # the sampler must outlive any one bad reading
                self._host.record("state", "", "info", monitor_error=repr(exc)[:500])

    # --- one round ---------------------------------------------------------------

    def tick(self) -> list[Sample]:
        """Sample every plugin once, act on thresholds, store peaks, adopt stored states."""
        with self._tick_lock:
            samples = [self.sample(handle) for handle in self._host.plugins()]
            self._host.control.poll()
            self._probe_vulns()
            for sample in samples:
                rounds, peaks, _ = self._unstored.get(sample.plugin, (0, {}, {}))
                now = _peaks(sample)
                merged = {k: max(v, peaks.get(k, 0.0)) for k, v in now.items()}
                self._unstored[sample.plugin] = (rounds + 1, merged, now)
            if time.monotonic() - self._stored_at >= STORE_EVERY:
                self.flush()
            return samples

    def _probe_vulns(self) -> None:
        """Run the vulnerability check when overdue; asked at most once an hour of host time."""
        now = self._host._clock()
        if now >= self._vuln_probe_at:
            self._vuln_probe_at = now + VULN_PROBE_SECONDS
            self._host.vuln_check_if_due()

    def flush(self) -> None:
        """Write the peaks gathered since the last write to ``corral.db`` (for reports)."""
        rows, self._unstored = self._unstored, {}
        self._stored_at = time.monotonic()
        self._host.control.store.record_usage(rows, now=self._host._clock())

    def sample(self, handle: PluginHandle) -> Sample:
        now = self._host._clock()
        readings = [read_worker(w.pid, getattr(w, "cgroup", None)) for w in handle.pen_workers()]
        work = self._host.home.work / handle.name
        disk_mb, disk_complete = disk_usage(work, self._host.limits.disk_scan_entries)
        cpu = sum(r.cpu_seconds for r in readings)
        percent, rate = self._rates(handle.name, now, cpu, self._host.hostcall_count(handle.name))
        sample = Sample(
            time=now,
            plugin=handle.name,
            workers=len(readings),
            cpu_seconds=cpu,
            cpu_percent=percent,
            memory_mb=sum(r.memory_mb for r in readings),
            processes=sum(r.processes for r in readings),
            tasks=sum(r.tasks for r in readings),
            open_files=max((r.open_files for r in readings), default=0),
            disk_mb=disk_mb,
            disk_complete=disk_complete,
            hostcalls_per_second=rate,
            **_network(self._host.network_usage(handle.name)),
        )
        self._history.setdefault(handle.name, collections.deque(maxlen=self._size)).append(sample)
        self._check(handle, sample, enforced_cpu=any(r.cgroup_cpu for r in readings))
        return sample

    def _rates(self, plugin: str, now: float, cpu: float, calls: int) -> tuple[float, float]:
        """CPU percent and host calls per second over the last ``RATE_WINDOW`` or more.

        A CFS quota is spent in bursts within each 100 ms period, so a share
        measured over a few milliseconds says nothing; rates are measured over
        at least a second and carried between shorter rounds.
        """
        ref = self._last.get(plugin)
        if ref is None or now - ref[0] < 0 or cpu < ref[1]:  # first round, or a new worker
            self._last[plugin] = (now, cpu, calls)
            self._rate[plugin] = (0.0, 0.0)
        elif now - ref[0] >= RATE_WINDOW:
            elapsed = now - ref[0]
            self._rate[plugin] = ((cpu - ref[1]) / elapsed * 100, (calls - ref[2]) / elapsed)
            self._last[plugin] = (now, cpu, calls)
        return self._rate.get(plugin, (0.0, 0.0))

    def history(self, plugin: str) -> list[Sample]:
        return list(self._history.get(plugin, ()))

    # --- thresholds --------------------------------------------------------------

    def _check(self, handle: PluginHandle, sample: Sample, *, enforced_cpu: bool) -> None:
        limits = handle.grant.limits
        workers = max(1, sample.workers)
        # (metric, used, limit, whether the monitor acts at 100 %)
        # A $WORK too big to walk cannot be vouched for: fail secure, it is at its limit.
        # Otherwise a plugin could hide any amount of data behind enough empty files.
        disk = sample.disk_mb if sample.disk_complete else max(sample.disk_mb, limits.disk_mb)
        checks: list[tuple[str, float, float, bool]] = [
            ("disk_mb", disk, limits.disk_mb, True),
            ("open_files", sample.open_files, limits.open_files, True),
            ("processes", sample.tasks, task_limit(limits.processes) * workers, True),
            ("memory_mb", sample.memory_mb, limits.memory_mb * workers, False),
            ("cpu_seconds", sample.cpu_seconds, limits.cpu_seconds * workers, False),
            ("cpu_percent", sample.cpu_percent, limits.cpu_percent * workers, not enforced_cpu),
        ]
        for metric, used, limit, acts in checks:
            self._level(handle, metric, used, limit, acts)

    def _level(
        self, handle: PluginHandle, metric: str, used: float, limit: float, acts: bool
    ) -> None:
        key = (handle.name, metric)
        fraction = used / limit if limit else 0.0
        level = 2 if acts and fraction >= 1.0 else 1 if fraction >= self.warn_fraction else 0
        previous = self._levels.get(key, 0)
        self._levels[key] = level
        if level <= previous:
            return
        details: dict[str, Any] = {
            "limit": metric,
            "used": round(used, 3),
            "allowed": limit,
            "fraction": round(fraction, 3),
            "source_of_truth": "host",
        }
        if previous == 0:
            self._host.record("limit.warning", handle.name, "info", **details)
        if level == 2:
            self._host.record("limit.breached", handle.name, "deny", **details)
            if metric in HARD_LIMITS:
                # No kernel layer holds $WORK's total (it is a persistent bind mount,
                # bounded per file by file_size_mb): the monitor is the enforcement,
                # so the call in flight ends with ResourceLimitExceeded, as issue 3 asks.
                handle.kill_workers(metric)
            self._host.responder.violation(handle, "resource", "limit.breached", limit=metric)


HARD_LIMITS = frozenset({"disk_mb"})
"""Limits the monitor enforces itself at 100 %: the worker is killed, its call fails."""


def _network(usage: NetUsage | None) -> dict[str, int]:
    """The proxy's counters for one plugin, as sample fields (none: 0)."""
    if usage is None:
        return {}
    return {"net_connections": usage.open, "net_bytes": usage.bytes_in + usage.bytes_out}


def _peaks(sample: Sample) -> dict[str, float]:
    return {
        "cpu_seconds": sample.cpu_seconds,
        "cpu_percent": sample.cpu_percent,
        "memory_mb": sample.memory_mb,
        "tasks": sample.tasks,
        "open_files": sample.open_files,
        "disk_mb": sample.disk_mb,
        "hostcalls_per_second": sample.hostcalls_per_second,
        "net_connections": sample.net_connections,
        "net_bytes": sample.net_bytes,
    }
