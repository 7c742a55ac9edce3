"""Run host code with a deadline, in a thread the caller stops waiting for.

A host function is the host's own code, so it cannot be killed the way a pen
can: Python has no safe way to stop a thread. When the deadline passes the
plugin gets its timeout at once and the runaway is left to finish on its own
daemon thread (so it never blocks the host's exit). Runaways still hold
whatever they hold, so only a bounded number may be outstanding; past that,
new calls are refused instead of piling up threads.

Threads are kept and reused (an idle one leaves after a minute): starting a
thread per call cost about half of a host call's round trip.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any


class DeadlineExceeded(Exception):
    """The function did not return in time; it may still be running."""


class TooManyRunaways(Exception):
    """Too many earlier calls are still running past their deadlines."""


class DeadlineRunner:
    """Runs callables (sync or ``async def``) on daemon threads with a deadline."""

    def __init__(self, max_runaways: int, idle_seconds: float = 60.0) -> None:
        self.max_runaways = max_runaways
        self.idle_seconds = idle_seconds
        self._runaways = 0
        self._idle = 0
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()

    def _submit(self, job: Callable[[], None]) -> None:
        """Hand ``job`` to an idle thread, or start one when none is idle."""
        self._jobs.put(job)
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                return
        threading.Thread(target=self._serve, name="corral-hostcall", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0 and self._jobs.empty():
                        self._idle -= 1
                        return
                continue
            job()
            with self._lock:
                self._idle += 1

    @property
    def runaways(self) -> int:
        """How many calls are still running past their deadline."""
        with self._lock:
            return self._runaways

    def run(self, fn: Callable[..., Any], timeout: float, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``'s value or exception; ``DeadlineExceeded`` after ``timeout``."""
        with self._lock:
            if self._runaways >= self.max_runaways:
                raise TooManyRunaways(self._runaways)
        future: Future[Any] = Future()
        state = {"late": False}

        def body() -> None:
            try:
                value = fn(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = asyncio.run(_awaited(value))
                future.set_result(value)
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)
            finally:
                with self._lock:
                    if state["late"]:
                        self._runaways -= 1

        self._submit(body)
        try:
            return future.result(timeout)
        except FutureTimeout:
            with self._lock:
                if not future.done():
                    state["late"] = True
                    self._runaways += 1
            if state["late"]:
                raise DeadlineExceeded(timeout) from None
            return future.result()


async def _awaited(value: Any) -> Any:
    return await value
