"""Where audit events go: the narrow interface and its first two stores.

Every feature writes through :class:`AuditSink`. ``write`` returns only once
the event is durable in that sink (the JSONL sink flushes and fsyncs), which
is what "acknowledged" means: a denial is recorded before the host raises it
to its caller.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from corral.audit.events import AuditEvent


class AuditSink(Protocol):
    """The one audit path every backend and feature uses."""

    def write(self, event: AuditEvent) -> None: ...

    def query(self, *, plugin: str | None = None, kind: str | None = None) -> list[AuditEvent]: ...

    def close(self) -> None: ...


def _match(event: AuditEvent, plugin: str | None, kind: str | None) -> bool:
    return (plugin is None or event.plugin == plugin) and (kind is None or event.kind == kind)


class MemorySink:
    """Keeps events in a list: for tests and for embedding without a disk."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def write(self, event: AuditEvent) -> None:
        with self._lock:
            self.events.append(event)

    def query(self, *, plugin: str | None = None, kind: str | None = None) -> list[AuditEvent]:
        with self._lock:
            return [e for e in self.events if _match(e, plugin, kind)]

    def close(self) -> None:
        pass


class JsonlSink:
    """Appends one JSON object per line, fsynced per event."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, event: AuditEvent) -> None:
        line = json.dumps(event.to_dict(), default=str, sort_keys=True)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def query(self, *, plugin: str | None = None, kind: str | None = None) -> list[AuditEvent]:
        return [e for e in self._read() if _match(e, plugin, kind)]

    def _read(self) -> Iterable[AuditEvent]:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield AuditEvent(**json.loads(line))

    def close(self) -> None:
        with self._lock:
            self._fh.close()
