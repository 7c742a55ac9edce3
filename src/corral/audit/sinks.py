"""The narrow interface every feature writes through, and the two file-less-ish sinks.

:class:`AuditSink` is what ``Host.audit`` is: ``write`` (acknowledged: durable
in that sink when it returns), ``submit`` (queued; acknowledged at the next
``flush`` or commit), ``flush``, ``query`` and ``close``. The SQL stores
(:mod:`corral.audit.store`) implement it with a writer thread and group
commit; the two sinks here write inline, so for them ``submit`` is ``write``.

Both sinks keep a hash chain too (in memory, and in the JSONL lines), so the
same events carry the same ``seq``/``prev_hash``/``hash`` wherever they go.
:class:`MemorySink` can verify its chain; the JSONL file is an export and
debugging format and has no checkpoint or head, so a cut-off tail is not
detectable there: use the SQL stores where tamper evidence matters.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from abc import abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, Unpack

from corral.audit.chain import ChainReport, Link, verify_chain
from corral.audit.events import GENESIS, AuditEvent
from corral.audit.filters import EventFilter, Filters, Queryable


def default_host_id() -> str:
    """``$CORRAL_HOST_ID``, else the machine's host name: stable across restarts."""
    return os.environ.get("CORRAL_HOST_ID") or socket.gethostname() or "localhost"


class AuditSink(Protocol):
    """The one audit path every backend and feature uses."""

    host_id: str

    def write(self, event: AuditEvent) -> None: ...

    def submit(self, event: AuditEvent) -> None: ...

    def flush(self) -> None: ...

    def query(self, *, limit: int | None = None, **filters: Unpack[Filters]) -> list[AuditEvent]:
        """Events matching every filter given (:class:`~corral.audit.filters.Filters`)."""

    def close(self) -> None: ...


class _InHand(Queryable):
    """``query`` for a sink that can list all its events (in memory, or one file)."""

    @abstractmethod
    def _events(self) -> Iterable[AuditEvent]:
        """Every event the sink holds, in any order."""

    def _query(self, wanted: EventFilter, limit: int | None) -> list[AuditEvent]:
        found = [e for e in self._events() if wanted.matches(e)]
        found.sort(key=lambda e: (e.time, e.host_id, e.seq))
        return found if limit is None else found[: max(0, limit)]


class _Chain:
    """The head of one host's chain, advanced under the sink's lock."""

    def __init__(self, host_id: str, head: Link | None = None) -> None:
        self.host_id = host_id
        self.seq = head.seq if head else 0
        self.hash = head.hash if head else GENESIS

    def link(self, event: AuditEvent) -> AuditEvent:
        linked = event.chained(host_id=self.host_id, seq=self.seq + 1, prev_hash=self.hash)
        self.seq, self.hash = linked.seq, linked.hash
        return linked


class MemorySink(_InHand):
    """Keeps events in a list: for tests and for embedding without a disk."""

    def __init__(self, host_id: str | None = None) -> None:
        self.host_id = host_id or default_host_id()
        self.events: list[AuditEvent] = []
        self._chain = _Chain(self.host_id)
        self._lock = threading.Lock()

    def write(self, event: AuditEvent) -> None:
        with self._lock:
            self.events.append(self._chain.link(event))

    submit = write

    def flush(self) -> None:
        pass

    def _events(self) -> list[AuditEvent]:
        with self._lock:
            return list(self.events)

    def verify(self) -> list[ChainReport]:
        with self._lock:
            events = list(self.events)
            head = Link(self._chain.seq, self._chain.hash)
        return [verify_chain(self.host_id, events, head=head)]

    def close(self) -> None:
        pass


class JsonlSink(_InHand):
    """Appends one JSON object per line, fsynced per event; resumes its chain on open."""

    def __init__(self, path: str | os.PathLike[str], host_id: str | None = None) -> None:
        self.path = Path(path)
        self.host_id = host_id or default_host_id()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        last = None
        if self.path.exists():
            for event in self._events():
                if event.host_id == self.host_id:
                    last = Link(event.seq, event.hash)
        self._chain = _Chain(self.host_id, last)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, event: AuditEvent) -> None:
        with self._lock:
            linked = self._chain.link(event)
            self._fh.write(json.dumps(linked.to_dict(), sort_keys=True) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())

    submit = write

    def flush(self) -> None:
        pass

    def _events(self) -> Iterable[AuditEvent]:
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield AuditEvent.from_dict(json.loads(line))

    def close(self) -> None:
        with self._lock:
            self._fh.close()
