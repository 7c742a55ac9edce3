"""Violations: which of the six types an event is, and how many fell in a window.

A violation is something a plugin did against its grant or its limits, as
the host saw it: a guard denial (reported by the worker), a host function
refused, a limit breached, a call timed out, a worker crashed. Counting them
per plugin in sliding windows is what turns "one odd denial" (a warning) into
"a pattern" (a suspension); the clock is the host's, so tests inject one.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from typing import Any

from corral.errors import PluginCrashed, PluginError, PluginTimeout, ResourceLimitExceeded
from corral.policy.responses import ViolationType

_DOMAIN_TYPES: dict[str, ViolationType] = {"file": "filesystem", "network": "network"}


def denial_type(details: dict[str, Any]) -> ViolationType:
    """A guard denial by the operation's domain: files, network, or any other permission."""
    return _DOMAIN_TYPES.get(str(details.get("domain", "")), "permission")


def error_type(exc: PluginError) -> ViolationType | None:
    """The violation a failed call is, or None for the plugin's own exception.

    A ``PermissionDenied`` result is not counted here: the denial it reports
    already arrived as a guard event, and counting both would double it.
    """
    if isinstance(exc, PluginTimeout):
        return "timeout"
    if isinstance(exc, ResourceLimitExceeded):
        return "resource"
    if isinstance(exc, PluginCrashed):
        return "crash"
    return None


class ViolationCounter:
    """Timestamps of recent violations per (plugin, type), pruned to the longest window."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._seen: dict[tuple[str, str], collections.deque[float]] = {}
        self._lock = threading.Lock()

    def add(self, plugin: str, kind: ViolationType, windows: Iterable[float]) -> dict[float, int]:
        """Count one more violation now; return the count within each of ``windows``."""
        windows = sorted(set(windows)) or [60.0]
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault((plugin, kind), collections.deque())
            seen.append(now)
            while seen and seen[0] < now - windows[-1]:
                seen.popleft()
            return {w: sum(1 for t in seen if t >= now - w) for w in windows}

    def forget(self, plugin: str) -> None:
        """Start counting afresh (an administrator resumed or re-enabled the plugin)."""
        with self._lock:
            for key in [k for k in self._seen if k[0] == plugin]:
                del self._seen[key]
