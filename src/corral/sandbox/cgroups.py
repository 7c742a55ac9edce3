"""Control groups: memory, task and CPU limits measured and enforced from outside the pen.

An rlimit binds one process and is counted by it; a cgroup binds the whole
pen, every child and thread included, and is read by the host without asking
the pen. So the host creates one group per worker, the worker joins it before
it confines itself, and the host reads usage, kills and removes the group.
The pen cannot leave it: moving a process needs write access to another
group's ``cgroup.procs``, which the pen's uid and Landlock both deny.

Groups are created under the *host's own* group of each hierarchy
(``<mount>/<own path>/corral/<name>``), not at the hierarchy's root: limits
set on the host's group (by systemd or a container runtime) then still bind
its plugins. On a machine whose host runs at the root this is the plain
``/sys/fs/cgroup/<controller>/corral/<name>``. The worker resolves the same
path because it inherits the host's groups (zygote and workers are children).

cgroup v1 is what is implemented (it is all this machine has); a v2-only host
is detected and refused with a clear message rather than half-served.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corral.errors import SandboxUnavailable
from corral.sandbox.rlimits import MIB, task_limit

CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")
BASE = "corral"
CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000
REQUIREMENT = "cgroup v1 controllers mounted under /sys/fs/cgroup and writable (root)"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _cgroup_mounts() -> Iterator[tuple[str, str, str, list[str]]]:
    """(fstype, mount point, mount root, super options) of each cgroup filesystem mounted."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, (fstype, _source, options) = left.split(), right.split()[:3]
        if fstype in ("cgroup", "cgroup2"):
            point = fields[4].encode().decode("unicode_escape")  # \040 and friends
            yield fstype, point, fields[3], options.split(",")


def _v1_mounts() -> dict[str, tuple[str, str]]:
    """controller -> (mount point, mount root) for every v1 hierarchy."""
    found: dict[str, tuple[str, str]] = {}
    for fstype, point, root, options in _cgroup_mounts():
        for option in options:
            if fstype == "cgroup" and option in CONTROLLERS:
                found[option] = (point, root)
    return found


@functools.cache
def _v1_mounts_once() -> dict[str, tuple[str, str]]:
    return _v1_mounts()


def groups_of(pid: int) -> CgroupSet:
    """The v1 groups ``pid`` is in, to read the counters of a group corral did not make.

    A container engine makes its containers' groups; the host meters a
    container worker through them the way it meters a pen through its own.
    Never destroy the result: the groups belong to their maker.
    """
    mounts = _v1_mounts_once()
    dirs: list[tuple[str, Path]] = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            if controller in CONTROLLERS and controller in mounts:
                point, root = mounts[controller]
                relative = path[len(root) :] if path.startswith(root) and root != "/" else path
                dirs.append((controller, Path(point) / relative.lstrip("/")))
    return CgroupSet(f"pid-{pid}", tuple(dirs))


def _own_paths() -> dict[str, str]:
    """controller -> this process's group path in that v1 hierarchy."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def base_dirs() -> dict[str, Path]:
    """controller -> the directory holding corral's groups, for each mounted v1 controller.

    Read once per process: the mount table and the process's own groups do not
    move under a running host, and reading them cost every new worker (host and
    child alike) a millisecond. The zygote reads them before it forks.
    """
    return dict(_base_dirs())


@functools.cache
def _base_dirs() -> dict[str, Path]:
    own = _own_paths()
    bases: dict[str, Path] = {}
    for controller, (point, root) in _v1_mounts().items():
        path = own.get(controller, "/")
        relative = path[len(root) :] if path.startswith(root) and root != "/" else path
        bases[controller] = Path(point) / relative.lstrip("/") / BASE
    return bases


def sweep_stale(*, now: float, older_than: float = 60.0) -> list[Path]:
    """Remove empty worker groups left by a host that died without cleaning up.

    A host killed with SIGKILL cannot destroy its workers' groups. A group is
    stale when it holds no task and was made more than ``older_than`` seconds
    ago (a younger empty group may be one another host is still filling).
    """
    removed: list[Path] = []
    for base in base_dirs().values():
        for group in base.iterdir() if base.is_dir() else ():
            try:
                idle = not (group / "cgroup.procs").read_text().strip()
                old = now - group.stat().st_mtime > older_than
                if group.is_dir() and idle and old:
                    group.rmdir()
                    removed.append(group)
            except OSError:
                continue  # busy, vanished, or not ours to remove: leave it
    return removed


def unified_controllers() -> frozenset[str]:
    """Controllers a cgroup v2 hierarchy offers here (detected, not used yet)."""
    for fstype, point, _, _ in _cgroup_mounts():
        if fstype == "cgroup2":
            with contextlib.suppress(OSError):
                return frozenset((Path(point) / "cgroup.controllers").read_text().split())
    return frozenset()


def available() -> dict[str, bool]:
    """Per v1 controller: whether this process can create corral's groups in it."""
    bases = base_dirs()
    result = {}
    for controller in CONTROLLERS:
        base = bases.get(controller)
        target = base if base is None or base.exists() else base.parent
        result[controller] = target is not None and os.access(target, os.W_OK)
    return result


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name in (".", ".."):
        raise ValueError(f"cgroup name {name!r}: use 1-64 letters, digits, '_', '.', '-'")


def join(name: str, pid: int) -> None:
    """Move ``pid`` into every group named ``name`` (what the worker does for itself)."""
    _check_name(name)
    dirs = [base / name for base in base_dirs().values() if (base / name).is_dir()]
    if not dirs:
        raise SandboxUnavailable("cgroups", f"no cgroup {name!r}: the host creates it first")
    for path in dirs:
        try:
            (path / "cgroup.procs").write_text(f"{pid}\n")
        except OSError as exc:
            raise SandboxUnavailable("cgroups", f"joining {path}: {exc}") from exc


def member(name: str) -> bool:
    """Whether the calling process is already in every group named ``name`` that exists.

    A spare child joined its group before it knew its plan; joining again would
    wait for another RCU grace period for nothing.
    """
    _check_name(name)
    own = _own_paths()
    wanted = 0
    for controller, base in base_dirs().items():
        target = base / name
        if not target.is_dir():
            continue
        wanted += 1
        point, root = _v1_mounts_once()[controller]
        path = own.get(controller, "")
        relative = path[len(root) :] if path.startswith(root) and root != "/" else path
        if Path(point) / relative.lstrip("/") != target:
            return False
    return wanted > 0


def _why_none() -> str:
    v2 = unified_controllers()
    if v2:
        return f"only cgroup v2 here (controllers {sorted(v2)}); corral needs {REQUIREMENT}"
    return f"no writable cgroup controller; needs {REQUIREMENT}"


@dataclass(frozen=True)
class CgroupUsage:
    """What the kernel counted for one group; 0 where a controller is absent."""

    memory_bytes: int = 0
    memory_peak_bytes: int = 0
    memory_failcnt: int = 0
    oom_kills: int = 0
    under_oom: bool = False
    tasks: int = 0
    cpu_ns: int = 0
    cpu_throttled: int = 0


@dataclass(frozen=True)
class CgroupSet:
    """One worker's groups, one per v1 controller; made by :meth:`create`."""

    name: str
    dirs: tuple[tuple[str, Path], ...]

    @classmethod
    def create(cls, name: str, *, memory_mb: int, processes: int, cpu_percent: int) -> CgroupSet:
        """Create the groups and set the limits (0 = none); SandboxUnavailable if not possible.

        ``processes`` counts tasks, so threads get ``THREAD_HEADROOM`` on top.
        ``cpu_percent`` is a share of one CPU (100 = one full core), as a
        CFS quota over a 100 ms period.
        """
        _check_name(name)
        bases, usable = base_dirs(), available()
        if not any(usable.values()):
            raise SandboxUnavailable("cgroups", _why_none())
        needed = {"memory": memory_mb, "pids": processes, "cpu": cpu_percent}
        for controller, value in needed.items():
            if value and not usable[controller]:
                raise SandboxUnavailable("cgroups", f"{controller} controller: needs {REQUIREMENT}")
        group = cls(name, tuple((c, bases[c] / name) for c in CONTROLLERS if usable[c]))
        try:
            group._make(memory_mb, processes, cpu_percent)
        except OSError as exc:
            group.destroy()
            raise SandboxUnavailable("cgroups", f"creating {name!r}: {exc}") from exc
        return group

    def _make(self, memory_mb: int, processes: int, cpu_percent: int) -> None:
        for _, path in self.dirs:
            path.mkdir(parents=True, exist_ok=True)
        self.set_limits(memory_mb=memory_mb, processes=processes, cpu_percent=cpu_percent)

    def set_limits(self, *, memory_mb: int, processes: int, cpu_percent: int) -> None:
        """Write the limits (0 = leave that one as it is); also on a group already in use.

        A spare's group is made without limits and gets the grant's here, when
        a worker is started in it. Memory before memory+swap: v1 refuses a
        memory limit above the memory+swap one.
        """
        if memory_mb:
            self._write("memory", "memory.limit_in_bytes", memory_mb * MIB)
            if self._has("memory", "memory.memsw.limit_in_bytes"):  # no escape into swap
                self._write("memory", "memory.memsw.limit_in_bytes", memory_mb * MIB)
        if processes:
            self._write("pids", "pids.max", task_limit(processes))
        if cpu_percent:
            quota = max(MIN_QUOTA_US, CFS_PERIOD_US * cpu_percent // 100)
            self._write("cpu", "cpu.cfs_period_us", CFS_PERIOD_US)
            self._write("cpu", "cpu.cfs_quota_us", quota)

    def set_cpu_percent(self, cpu_percent: int) -> int:
        """Change the CFS quota of a running group (a throttle); returns the quota in µs.

        Raises ``SandboxUnavailable`` when the set has no cpu group: a throttle
        that cannot be applied must say so, not pretend.
        """
        if self.path("cpu") is None:
            raise SandboxUnavailable("cgroups", f"{self.name!r} has no cpu group to throttle")
        quota = max(MIN_QUOTA_US, CFS_PERIOD_US * cpu_percent // 100)
        self._write("cpu", "cpu.cfs_period_us", CFS_PERIOD_US)
        self._write("cpu", "cpu.cfs_quota_us", quota)
        return quota

    def cpu_quota_us(self) -> int:
        """The CFS quota in force (-1 or 0 when none)."""
        text = self._read("cpu", "cpu.cfs_quota_us").strip()
        return int(text) if text.lstrip("-").isdigit() else 0

    def memory_limit_bytes(self) -> int:
        return self._number("memory", "memory.limit_in_bytes")

    def path(self, controller: str) -> Path | None:
        """This set's directory in ``controller``'s hierarchy, if it has one."""
        return dict(self.dirs).get(controller)

    def _has(self, controller: str, file: str) -> bool:
        path = self.path(controller)
        return path is not None and (path / file).exists()

    def _write(self, controller: str, file: str, value: int | str) -> None:
        path = self.path(controller)
        if path is not None:
            (path / file).write_text(f"{value}\n")

    def _read(self, controller: str, file: str) -> str:
        path = self.path(controller)
        if path is None:
            return ""
        try:
            return (path / file).read_text()
        except OSError:
            return ""

    def _number(self, controller: str, file: str) -> int:
        text = self._read(controller, file).strip()
        return int(text) if text.isdigit() else 0

    def _keyed(self, controller: str, file: str) -> dict[str, int]:
        pairs = (line.split() for line in self._read(controller, file).splitlines())
        return {kv[0]: int(kv[1]) for kv in pairs if len(kv) == 2 and kv[1].isdigit()}

    def renamed(self, name: str) -> CgroupSet:
        """Rename the groups in place (v1 allows it within one parent); members stay in.

        A spare's group gets the worker's name once a plugin is started in it,
        so every group still says whose it is.
        """
        _check_name(name)
        moved = {path: path.with_name(name) for path in dict.fromkeys(p for _, p in self.dirs)}
        for old, new in moved.items():
            old.rename(new)
        return CgroupSet(name, tuple((c, moved[path]) for c, path in self.dirs))

    def join(self, pid: int) -> None:
        """Move ``pid`` (and, in v1, only that process, not its existing children) in."""
        for _, path in self.dirs:
            (path / "cgroup.procs").write_text(f"{pid}\n")

    def usage(self) -> CgroupUsage:
        """Read the counters the kernel keeps for the group (host side, no help from the pen)."""
        oom = self._keyed("memory", "memory.oom_control")
        return CgroupUsage(
            memory_bytes=self._number("memory", "memory.usage_in_bytes"),
            memory_peak_bytes=self._number("memory", "memory.max_usage_in_bytes"),
            memory_failcnt=self._number("memory", "memory.failcnt"),
            oom_kills=oom.get("oom_kill", 0),
            under_oom=bool(oom.get("under_oom", 0)),
            tasks=self._number("pids", "pids.current"),
            cpu_ns=self._number("cpuacct", "cpuacct.usage"),
            cpu_throttled=self._keyed("cpu", "cpu.stat").get("nr_throttled", 0),
        )

    def procs(self) -> frozenset[int]:
        """Every process in any of the set's groups."""
        found: set[int] = set()
        for controller, _ in self.dirs:
            found.update(int(p) for p in self._read(controller, "cgroup.procs").split())
        return frozenset(found)

    def kill_all(self, *, timeout: float = 5.0) -> None:
        """SIGKILL everything in the group until it is empty.

        The group is frozen while the signals go out, so a fork bomb cannot
        add processes between reading the list and killing it.
        """
        deadline = time.monotonic() + timeout
        while pids := self.procs():
            self._freeze("FROZEN")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._freeze("THAWED")
            if time.monotonic() > deadline:
                raise TimeoutError(f"cgroup {self.name!r} still has processes {sorted(pids)}")
            time.sleep(0.001)

    def _freeze(self, state: str) -> None:
        if not self._has("freezer", "freezer.state"):
            return
        self._write("freezer", "freezer.state", state)
        deadline = time.monotonic() + 1.0
        while self._read("freezer", "freezer.state").strip() != state:
            if time.monotonic() > deadline:
                return  # best effort: the kill loop still converges, only slower
            time.sleep(0.001)

    def destroy(self, *, timeout: float = 5.0) -> None:
        """Remove the groups; retries while the kernel still counts exiting tasks."""
        deadline = time.monotonic() + timeout
        for path in dict.fromkeys(path for _, path in self.dirs):
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.001)
