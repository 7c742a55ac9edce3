"""What an audit query asks for, defined once: as SQL for the stores, as a test for the sinks.

Every backend answers ``query(plugin=, kind=, decision=, since=, until=,
host_id=, limit=)``. The SQL stores turn the filters into a ``WHERE`` clause
(``SqlStore.query`` and the dashboard's ``SqlStore.page`` both), the memory
and JSONL sinks test events in hand against them. One definition, so no two
backends can disagree about what a filter means: equality on the named
fields, ``since`` inclusive, ``until`` exclusive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from corral.audit.events import AuditEvent
from corral.audit.retention import Moment, to_epoch


@dataclass(frozen=True)
class EventFilter:
    """The filters of one query; ``None`` means "any". Times are epoch seconds."""

    plugin: str | None = None
    kind: str | None = None
    decision: str | None = None
    host_id: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def of(
        cls,
        *,
        plugin: str | None = None,
        kind: str | None = None,
        decision: str | None = None,
        host_id: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
    ) -> EventFilter:
        """The filters as callers give them: times as numbers, datetimes or ISO strings."""
        return cls(
            plugin,
            kind,
            decision,
            host_id,
            None if since is None else to_epoch(since),
            None if until is None else to_epoch(until),
        )

    def _fields(self) -> tuple[tuple[str, str | None], ...]:
        """(column or attribute, wanted value) of the equality filters."""
        return (
            ("plugin", self.plugin),
            ("kind", self.kind),
            ("decision", self.decision),
            ("host_id", self.host_id),
        )

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions with ``?`` placeholders, and their parameters, to be ANDed.

        Column names come from this class, never from the caller; values only
        ever travel as parameters.
        """
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in self._fields():
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            conditions.append("time >= ?")
            params.append(self.since)
        if self.until is not None:
            conditions.append("time < ?")
            params.append(self.until)
        return conditions, params

    def matches(self, event: AuditEvent) -> bool:
        """Whether ``event`` passes every filter: the same test as :meth:`where`, in Python."""
        return (
            all(value is None or getattr(event, name) == value for name, value in self._fields())
            and (self.since is None or event.time >= self.since)
            and (self.until is None or event.time < self.until)
        )


class Queryable(ABC):
    """``query`` as every backend offers it; a backend answers one :class:`EventFilter`."""

    def query(
        self,
        *,
        plugin: str | None = None,
        kind: str | None = None,
        decision: str | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        host_id: str | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Events matching every filter given, oldest first; ``until`` is exclusive."""
        wanted = EventFilter.of(
            plugin=plugin, kind=kind, decision=decision, host_id=host_id, since=since, until=until
        )
        return self._query(wanted, limit)

    @abstractmethod
    def _query(self, wanted: EventFilter, limit: int | None) -> list[AuditEvent]:
        """The events ``wanted`` selects, ordered by (time, host_id, seq), at most ``limit``."""
