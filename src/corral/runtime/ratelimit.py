"""A token bucket per plugin, so one plugin flooding host calls cannot starve the host.

A bucket holds up to ``burst`` tokens and refills at ``rate`` per second; each
host call takes one. Bursts within the bucket pass untouched, a sustained
flood is held to ``rate``. The clock is passed in so tests need not sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``take()`` is true while tokens remain; thread-safe, one per plugin."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
