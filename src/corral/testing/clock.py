"""A clock a test moves by hand, for ``Host(clock=...)``.

The host reads its clock for everything it times by the wall clock: response
windows, restart backoff, lifecycle records, review and fix deadlines, the
30-day vulnerability check. Handing it a :class:`FakeClock` lets a test cross
those boundaries by calling :meth:`FakeClock.advance` instead of sleeping, so
such a test is exact and fast.
"""

from __future__ import annotations

import threading
import time

DAY = 86_400.0


class FakeClock:
    """A callable returning seconds since the epoch that only moves when told.

    It starts at the real time by default, so audit records and file ages it
    stamps look ordinary. It is safe to read from the host's threads while
    the test moves it. It never goes backwards: DESIGN.md's windows assume
    time is monotonic, and a test that rewinds would test something the host
    never sees.
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"

    def advance(self, seconds: float = 0.0, *, days: float = 0.0) -> float:
        """Move forward by ``seconds`` plus ``days``; return the new time."""
        step = float(seconds) + float(days) * DAY
        if step < 0:
            raise ValueError(f"a FakeClock only moves forward (asked to move {step} s)")
        with self._lock:
            self._now += step
            return self._now
