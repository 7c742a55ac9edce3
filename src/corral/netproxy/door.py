"""One plugin's door into the proxy: its grant, its connection limit, its counters.

Every worker of a plugin reaches the proxy through the same door, so the
limit (``max_connections``) and the counters are per plugin, as seed 004
means them. The counters are read from other threads (the host's monitoring),
hence the lock; the proxy's event loop is the only writer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from corral.netproxy.resolve import Grantish, Resolver


class Record(Protocol):
    """The host's audit entry point (``Host.record``); the proxy never imports runtime."""

    def __call__(self, kind: str, plugin: str, decision: str, **details: Any) -> None: ...


@dataclass(frozen=True)
class NetUsage:
    """What one plugin did on the network so far."""

    connections: int
    refused: int
    open: int
    bytes_in: int
    bytes_out: int

    def to_dict(self) -> dict[str, int]:
        return {
            "connections": self.connections,
            "refused": self.refused,
            "open": self.open,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }


class Door:
    """The proxy's state for one plugin."""

    def __init__(
        self, plugin: str, grant: Grantish, *, max_connections: int, resolver: Resolver
    ) -> None:
        self.plugin = plugin
        self.grant = grant
        self.max_connections = max_connections
        self.resolver = resolver
        self._lock = threading.Lock()
        self._open = 0
        self._connections = 0
        self._refused = 0
        self._in = 0
        self._out = 0

    def admit(self) -> bool:
        """Take one of the plugin's connection slots, or say the limit is reached."""
        with self._lock:
            if self._open >= self.max_connections:
                return False
            self._open += 1
            self._connections += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._open -= 1

    def refused(self) -> None:
        with self._lock:
            self._refused += 1

    def count(self, *, bytes_in: int = 0, bytes_out: int = 0) -> None:
        with self._lock:
            self._in += bytes_in
            self._out += bytes_out

    def usage(self) -> NetUsage:
        with self._lock:
            return NetUsage(self._connections, self._refused, self._open, self._in, self._out)
