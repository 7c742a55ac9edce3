"""A loaded plugin: the handle a host application calls through.

A handle owns a small pool of warm workers (one by default). Calls to one
worker queue; a worker that breached, crashed or timed out is discarded and
the next call gets a fresh one, so one bad call never poisons the next.

Its state (``host.plugins()``) is the administrator's word first (suspended,
disabled; stored in ``corral.db``), then the workers': ``failed`` when the
last start failed, ``running`` with a live worker, else ``loaded``.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.errors import CorralError, PluginError, PluginSuspended, SandboxUnavailable
from corral.policy import Grant, Manifest, ResourceLimits
from corral.protocol import Call
from corral.runtime.worker import Usage, Worker, WorkerProcess

if TYPE_CHECKING:
    from corral.runtime.host import Host
    from corral.runtime.monitor import Sample


class PluginHandle:
    """Call a plugin's callables; each call runs in a confined worker."""

    def __init__(
        self,
        host: Host,
        manifest: Manifest,
        grant: Grant,
        store_dir: Path,
        workers: int = 1,
        *,
        source: Path | None = None,
        admin_state: str = "active",
    ) -> None:
        self._host = host
        self.store_dir = store_dir
        self.manifest = manifest
        self.grant = grant
        self.name = manifest.name
        self.version = manifest.version
        self.source = source
        self.admin_state = admin_state
        self.failed = False
        self.closed = False
        self.last_usage: Usage | None = None
        self._live: set[Worker] = set()
        self._live_lock = threading.Lock()
        self._not_before = 0.0
        self._size = max(1, workers)
        self._slots: queue.Queue[Worker | None] = queue.Queue()
        for _ in range(self._size):
            self._slots.put(None)
        if admin_state == "active":
            first = self._slots.get()
            try:
                first = self._ensure(first)
            finally:
                self._slots.put(first)

    @property
    def state(self) -> str:
        """loaded, running, suspended, disabled or failed (``unloaded`` once closed)."""
        if self.closed:
            return "unloaded"
        if self.admin_state != "active":
            return self.admin_state
        if self.failed:
            return "failed"
        return "running" if self.pen_workers() else "loaded"

    @property
    def callables(self) -> list[str]:
        """Names the plugin exports (as reported by its first worker)."""
        return list(self._host._callables.get(self.name, []))

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``name(*args, **kwargs)`` in the pen; raise a ``CorralError`` on failure."""
        return self._invoke(name, args, kwargs)

    def _invoke(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        timeout: float | None = None,
        limit: str = "call_timeout_seconds",
    ) -> Any:
        """One call under ``timeout`` (the grant's call timeout when None), named ``limit``."""
        self._host.control.check()  # a suspend stored by another process binds this call
        self._check_open()
        worker = self._slots.get()
        try:
            self._check_open()  # a call queued behind the one that got the plugin suspended
            worker = self._ensure(worker)
            call = Call(id=worker.conn.next_id(), name=name, args=list(args), kwargs=kwargs)
            value, usage = self._host._run_call(self, worker, call, timeout, limit)
            self.last_usage = usage
            return value
        finally:
            self._slots.put(self._keep(worker))

    async def acall(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The asyncio form of :meth:`call`; the wait happens off the event loop."""
        return await asyncio.to_thread(self.call, name, *args, **kwargs)

    def usage_history(self) -> list[Sample]:
        """The monitor's recent samples of this plugin, oldest first (bounded)."""
        return self._host.monitor.history(self.name)

    def _check_open(self) -> None:
        if self.closed or self.admin_state != "active":
            raise PluginSuspended(
                f"plugin {self.name!r} is {self.state}; no new calls"
                + ("" if self.closed else " until an administrator resumes or enables it")
            )

    def _ensure(self, worker: Worker | None) -> Worker:
        if worker is not None and not worker.dead:
            return worker
        wait = self._not_before - self._host._clock()
        if wait > 0:  # crash backoff: restarting at once only feeds a crash loop
            time.sleep(min(wait, self._host.policy.responses.backoff_max_seconds))
        try:
            fresh = self._host._start_worker(self)
        except PluginError:
            self.failed = True
            raise
        self.failed = False
        with self._live_lock:
            self._live.add(fresh)
        return fresh

    def _keep(self, worker: Worker | None) -> Worker | None:
        """The worker to put back in the pool: None when it is dead or marked for killing."""
        if worker is None:
            return None
        if getattr(worker, "killed_for", "") and not worker.dead:
            worker.kill()
        if worker.dead:
            with self._live_lock:
                self._live.discard(worker)
            return None
        return worker

    # --- used by the monitor and the responses ---------------------------------

    def pen_workers(self) -> list[Worker]:
        """Live workers with a process of their own (not an unsafe in-process one)."""
        with self._live_lock:
            return [w for w in self._live if not w.dead and isinstance(w, WorkerProcess)]

    def kill_workers(self, reason: str) -> int:
        """Kill every worker: idle ones at once, busy ones by signal (their call fails)."""
        with self._live_lock:
            live = [w for w in self._live if not w.dead]
        for worker in live:
            terminate = getattr(worker, "terminate", None)
            if terminate is not None:
                terminate(reason)
            else:
                worker.kill()
        self._drain(lambda w: w.kill())
        return len(live)

    def throttle(self, cpu_percent: int) -> list[int]:
        """Lower the CPU quota of live workers and of every worker started from now on."""
        self.set_limits(self.grant.limits.model_copy(update={"cpu_percent": cpu_percent}))
        groups = [getattr(w, "cgroup", None) for w in self.pen_workers()]
        if not any(groups) and not self._host._cgroups_usable():
            raise SandboxUnavailable(
                "cgroups", "no cpu cgroup on this host: the CPU quota cannot be lowered"
            )
        return [g.set_cpu_percent(cpu_percent) for g in groups if g is not None]

    def set_limits(self, limits: ResourceLimits) -> None:
        self.grant = replace(self.grant, limits=limits)

    def restart_after(self, when: float) -> None:
        self._not_before = when

    # --- teardown ----------------------------------------------------------------

    def close(self) -> None:
        """Tear down every worker; the handle refuses calls afterwards."""
        if self.closed:
            return
        self.closed = True
        self._drain(lambda w: w.shutdown())
        self.kill_workers("unloaded")  # busy ones: their calls end, nothing outlives the host
        self._host._forget(self)

    def _drain(self, action: Callable[[Worker], None]) -> None:
        """Act on each idle worker in the pool, leaving an empty slot in its place."""
        taken: list[Worker | None] = []
        while True:
            try:
                taken.append(self._slots.get_nowait())
            except queue.Empty:
                break
        for worker in taken:
            if worker is not None:
                try:
                    action(worker)
                except CorralError:
                    worker.kill()
                with self._live_lock:
                    self._live.discard(worker)
            self._slots.put(None)

    def __enter__(self) -> PluginHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
