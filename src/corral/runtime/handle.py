"""A loaded plugin: the handle a host application calls through.

A handle owns a small pool of warm workers (one by default). Calls to one
worker queue; a worker that breached, crashed or timed out is discarded and
the next call gets a fresh one, so one bad call never poisons the next.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.errors import CorralError, PluginError, PluginSuspended
from corral.policy import Grant, Manifest
from corral.protocol import Call
from corral.runtime.worker import Usage, Worker

if TYPE_CHECKING:
    from corral.runtime.host import Host


class PluginHandle:
    """Call a plugin's callables; each call runs in a confined worker."""

    def __init__(
        self, host: Host, manifest: Manifest, grant: Grant, store_dir: Path, workers: int = 1
    ) -> None:
        self._host = host
        self.store_dir = store_dir
        self.manifest = manifest
        self.grant = grant
        self.name = manifest.name
        self.version = manifest.version
        self.state = "loaded"
        self.last_usage: Usage | None = None
        self._slots: queue.Queue[Worker | None] = queue.Queue()
        for _ in range(max(1, workers)):
            self._slots.put(None)
        first = self._slots.get()
        self._slots.put(first or self._host._start_worker(self))

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
        if self.state in ("suspended", "disabled", "closed"):
            raise PluginSuspended(f"plugin {self.name!r} is {self.state}; no new calls")
        worker = self._slots.get()
        try:
            worker = self._ensure(worker)
            call = Call(id=worker.conn.next_id(), name=name, args=list(args), kwargs=kwargs)
            value, usage = self._host._run_call(self, worker, call, timeout, limit)
            self.last_usage = usage
            return value
        except PluginError:
            if worker is not None and worker.dead:
                worker = None
            raise
        finally:
            self._slots.put(worker if worker is not None and not worker.dead else None)

    async def acall(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """The asyncio form of :meth:`call`; the wait happens off the event loop."""
        return await asyncio.to_thread(self.call, name, *args, **kwargs)

    def _ensure(self, worker: Worker | None) -> Worker:
        if worker is not None and not worker.dead:
            return worker
        return self._host._start_worker(self)

    def close(self) -> None:
        """Tear down every worker; the handle refuses calls afterwards."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._drain(lambda w: w.shutdown())
        self._host._forget(self)

    def _drain(self, action: Callable[[Worker], None]) -> None:
        while True:
            try:
                worker = self._slots.get_nowait()
            except queue.Empty:
                return
            if worker is not None:
                try:
                    action(worker)
                except CorralError:
                    worker.kill()

    def __enter__(self) -> PluginHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
