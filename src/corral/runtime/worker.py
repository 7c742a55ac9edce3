"""One running pen, seen from the host: its channel, its timeouts, its death.

Everything the host believes about a worker comes from outside the pen where
it can (DESIGN.md, "What the host believes"): the wait status and rusage the
zygote reports, /proc of the worker, the cgroup. Only guard denials and
results travel over the channel the plugin controls.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

from corral import errors
from corral.limits import DEFAULT_LIMITS
from corral.protocol import (
    Call,
    Connection,
    ErrorInfo,
    Event,
    Exited,
    HostCall,
    Message,
    Ready,
    Result,
    Shutdown,
)
from corral.runtime import proctree
from corral.runtime.meter import Meter
from corral.runtime.remote import raise_remote
from corral.runtime.zygote import SpawnedWorker
from corral.sandbox.cgroups import CgroupSet

EventHandler = Callable[[Event], None]
HostCallHandler = Callable[[HostCall, float], Result]
"""Answers a plugin's host call; the float is what is left of the call's own deadline."""


@dataclass(frozen=True)
class Usage:
    """Resources one call used, measured from outside the pen."""

    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float

    def to_dict(self) -> dict[str, float]:
        return {
            "wall_seconds": round(self.wall_seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
            "peak_memory_mb": round(self.peak_memory_mb, 2),
        }


class Worker(Protocol):
    """What a plugin handle needs of a worker, confined or (unsafe) in-process."""

    pid: int
    dead: bool
    callables: list[str]
    hooks: dict[str, str]

    @property
    def conn(self) -> Any: ...

    def call(
        self,
        call: Call,
        timeout: float,
        on_event: EventHandler,
        on_hostcall: HostCallHandler,
        limit: str = "call_timeout_seconds",
    ) -> tuple[Any, Usage]: ...

    def shutdown(self) -> None: ...

    def kill(self) -> Any: ...


class _Ended(Exception):
    """The channel closed or the deadline passed; the caller classifies why."""


class WorkerProcess:
    """A spawned worker and the protocol state of its channel."""

    def __init__(
        self,
        spawned: SpawnedWorker,
        plugin: str,
        cgroup: CgroupSet | None = None,
        cpu_seconds: float = 0,
    ) -> None:
        self.spawned = spawned
        self.cpu_limit = cpu_seconds
        self.cgroup = cgroup
        self._meter = Meter(cgroup) if cgroup is not None else None
        self.plugin = plugin
        self.pid = spawned.pid
        self.conn = Connection(max_frame_bytes=DEFAULT_LIMITS.frame_bytes)
        self.callables: list[str] = []
        self.hooks: dict[str, str] = {}
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self._inbox: list[Message] = []
        self._pidfd = _open_pidfd(spawned.pid)
        self._pidfd_lock = threading.Lock()  # terminate() from another thread vs. _close()
        self.dead = False
        self.killed_for = ""
        self._oom_killed = False
        for fd in (spawned.stdout, spawned.stderr):
            threading.Thread(target=self._drain, args=(fd,), daemon=True).start()

    # --- lifecycle ----------------------------------------------------------

    def wait_ready(self, timeout: float, on_event: EventHandler) -> None:
        """Wait for the plugin to be imported and set up, under the init timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._next(deadline)
            except _Ended:
                self._fail("init_timeout_seconds", timeout, deadline)
            if isinstance(message, Event):
                on_event(message)
            elif isinstance(message, Ready):
                if message.error is not None:
                    self.kill()
                    raise_remote(self.plugin, message.error)
                self.callables, self.hooks = message.callables, message.hooks
                return

    def call(
        self,
        call: Call,
        timeout: float,
        on_event: EventHandler,
        on_hostcall: HostCallHandler,
        limit: str = "call_timeout_seconds",
    ) -> tuple[Any, Usage]:
        """Run one call; returns its value and usage or raises a ``CorralError``.

        ``limit`` names the bound ``timeout`` comes from (a hook runs under
        ``hook_timeout_seconds``), so the timeout error says which to raise.
        """
        start_wall, start_cpu = time.monotonic(), self.cpu_seconds()
        deadline = start_wall + timeout
        # a worker killed while idle is gone: reading then finds the end and says why
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.spawned.channel.sendall(self.conn.send(call))
        while True:
            try:
                message = self._next(deadline)
            except _Ended:
                self._fail(limit, timeout, deadline)
            if isinstance(message, Event):
                on_event(message)
            elif isinstance(message, HostCall):
                answer = on_hostcall(message, deadline - time.monotonic())
                self.spawned.channel.sendall(self._answer(answer))
            elif isinstance(message, Result) and message.id == call.id:
                usage = Usage(
                    time.monotonic() - start_wall,
                    self.cpu_seconds() - start_cpu,
                    self.peak_memory_mb(),
                )
                if not message.ok and message.error is not None:
                    raise_remote(self.plugin, message.error)
                return message.value, usage

    def _answer(self, result: Result) -> bytes:
        """A host function's answer as a frame; a value that cannot cross becomes an error."""
        try:
            return self.conn.send(result)
        except (TypeError, errors.ProtocolError) as exc:
            info = ErrorInfo(type="TypeError", message=f"host function result cannot cross: {exc}")
            return self.conn.send(Result(id=result.id, ok=False, error=info))

    def shutdown(self) -> None:
        """Ask for teardown, then make sure the process is gone."""
        if not self.dead:
            try:
                self.spawned.channel.sendall(self.conn.send(Shutdown(id=0)))
                self.spawned.exited.result(DEFAULT_LIMITS.close_grace_seconds)
            except (OSError, FutureTimeout):
                pass
        self.kill()

    def terminate(self, reason: str) -> None:
        """Kill the pen's processes but leave the channel to the thread that owns it.

        A response (kill, disable) may hit a worker another thread is calling:
        closing its channel under that thread's ``select`` would be a host bug,
        so only the processes go; that call sees the channel end, says why
        (``killed_for``), and closes the rest itself.
        """
        self.killed_for = reason
        if self.cgroup is not None and not self.dead:
            self.cgroup.kill_all()
        with self._pidfd_lock:
            if self._pidfd is not None and not self.spawned.exited.done():
                with contextlib.suppress(OSError):
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    def kill(self) -> Exited | None:
        """Terminate, wait, kill, reap: always leaves no process behind."""
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self._pidfd is not None and not self.spawned.exited.done():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        try:
            exited = self.spawned.exited.result(DEFAULT_LIMITS.close_grace_seconds * 5)
        except FutureTimeout:
            exited = None
        self._close()
        return exited

    def _close(self) -> None:
        if self.dead:
            return
        self.dead = True
        self.spawned.channel.close()
        if self._meter is not None:
            self._meter.close()
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.destroy()
        with self._pidfd_lock:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None

    # --- reading ------------------------------------------------------------

    def _next(self, deadline: float) -> Message:
        while not self._inbox:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Ended("deadline")
            ready, _, _ = select.select([self.spawned.channel], [], [], remaining)
            if not ready:
                continue
            try:
                data = self.spawned.channel.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                raise _Ended("closed")
            try:
                self._inbox.extend(self.conn.receive_data(data))
            except errors.ProtocolError as exc:
                raise self._broke_protocol(exc) from exc
        return self._inbox.pop(0)

    def _broke_protocol(self, exc: errors.ProtocolError) -> errors.PluginCrashed:
        """A frame the protocol refuses: the worker is the plugin's, so it is killed.

        A lying id, a malformed frame or a field of the wrong type is the
        plugin writing to its own channel; the channel cannot be trusted to be
        in step again, and the caller must see a plugin failure (recorded as a
        crash and counted for the response ladders), not a host error.
        """
        self.kill()
        return errors.PluginCrashed(
            f"{self.plugin}: the worker broke the channel protocol ({exc}); it was killed"
        )

    def _fail(self, limit: str, seconds: float, deadline: float) -> Any:
        """The channel ended or the deadline passed: kill, then say why as an error."""
        timed_out = time.monotonic() >= deadline
        exited = self.kill() if timed_out else self._await_exit()
        if timed_out:
            raise errors.PluginTimeout(
                f"{self.plugin}: no answer within {limit}={seconds:g}; the worker was killed",
                limit=limit,
                seconds=seconds,
            )
        raise self._death_error(exited)

    def _await_exit(self) -> Exited | None:
        if self.cgroup is not None:
            usage = self.cgroup.usage()
            self._oom_killed = usage.oom_kills > 0 or usage.under_oom
        try:
            return self.spawned.exited.result(DEFAULT_LIMITS.close_grace_seconds)
        except FutureTimeout:
            return self.kill()
        finally:
            self._close()

    def _death_error(self, exited: Exited | None) -> errors.CorralError:
        tail = "".join(self.output)[-2000:]
        if self.killed_for in _MONITORED_LIMITS:
            return errors.ResourceLimitExceeded(
                f"{self.plugin}: {_MONITORED_LIMITS[self.killed_for]} reached "
                f"({self.killed_for}); the host killed the worker",
                limit=self.killed_for,
            )
        if self.killed_for:
            return errors.PluginCrashed(
                f"{self.plugin}: the host killed the worker ({self.killed_for})", signal=9
            )
        if exited is None:
            return errors.PluginCrashed(f"{self.plugin}: the worker vanished")
        if exited.signal == signal.SIGXCPU or self._cpu_killed(exited):
            return errors.ResourceLimitExceeded(
                f"{self.plugin}: CPU time limit (cpu_seconds) reached; the worker was killed",
                limit="cpu_seconds",
            )
        if exited.signal == signal.SIGKILL and self._oom_killed:
            return errors.ResourceLimitExceeded(
                f"{self.plugin}: memory limit (memory_mb) reached; the kernel killed the worker",
                limit="memory_mb",
            )
        if exited.signal == signal.SIGKILL and "MemoryError" not in tail:
            return errors.PluginCrashed(
                f"{self.plugin}: the worker was killed (SIGKILL)\n{tail}".rstrip(),
                signal=exited.signal,
            )
        what = f"signal {exited.signal}" if exited.signal else f"exit code {exited.exit_code}"
        return errors.PluginCrashed(
            f"{self.plugin}: the worker died ({what})\n{tail}".rstrip(),
            exit_code=exited.exit_code,
            signal=exited.signal,
        )

    def _cpu_killed(self, exited: Exited) -> bool:
        """SIGKILL from RLIMIT_CPU's hard limit: the pen's pid 1 never sees SIGXCPU.

        The kernel drops a signal with no handler that is sent to a pid
        namespace's init, SIGXCPU included; only the hard limit's SIGKILL a
        second later ends it. The rusage the zygote reaped says which it was.
        """
        spent = self.cpu_limit and exited.cpu_seconds >= self.cpu_limit
        return exited.signal == signal.SIGKILL and not self._oom_killed and bool(spent)

    def _drain(self, fd: int) -> None:
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(4096):
                self.output.append(
                    chunk[: DEFAULT_LIMITS.log_line_bytes].decode("utf-8", "replace")
                )

    # --- measuring ----------------------------------------------------------

    def cpu_seconds(self) -> float:
        if self._meter is not None:
            return self._meter.cpu_seconds()
        return sum(proctree.cpu_ticks(pid) for pid in proctree.tree(self.pid)) / proctree.TICKS

    def peak_memory_mb(self) -> float:
        if self._meter is not None:
            return self._meter.peak_memory_mb()
        peak = 0
        for pid in proctree.tree(self.pid):
            try:
                with open(f"/proc/{pid}/status", encoding="ascii") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
        return peak / 1024


_MONITORED_LIMITS = {"disk_mb": "disk quota of $WORK"}
"""Limits the host's monitor enforces by killing the worker (runtime/monitor.py)."""


def _open_pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None
