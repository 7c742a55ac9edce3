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
from typing import Any, TypedDict, Unpack

from corral.audit.events import AuditEvent
from corral.audit.retention import Moment, to_epoch


class PageFilters(TypedDict, total=False):
    """The filters of the dashboard's pages (``SqlStore.page``); ``None`` means any."""

    plugin: str | None
    kind: str | None
    decision: str | None
    since: Moment | None
    until: Moment | None


class Filters(PageFilters, total=False):
    """Every filter of ``query``: the pages' ones and the host. Times: number, datetime, ISO."""

    host_id: str | None


_EQUAL = ("plugin", "kind", "decision", "host_id")


class EventFilter:
    """The filters of one query, read once: times become epoch seconds, unknown names an error."""

    def __init__(self, **filters: Unpack[Filters]) -> None:
        unknown = sorted(set(filters) - Filters.__optional_keys__)
        if unknown:
            known = ", ".join(sorted(Filters.__optional_keys__))
            raise TypeError(f"unknown audit filter {unknown[0]!r}: the filters are {known}")
        wanted: dict[str, Any] = dict(filters)
        self.equal = tuple((name, wanted[name]) for name in _EQUAL if wanted.get(name) is not None)
        since, until = filters.get("since"), filters.get("until")
        self.since = None if since is None else to_epoch(since)
        self.until = None if until is None else to_epoch(until)

    def where(self) -> tuple[list[str], list[Any]]:
        """SQL conditions with ``?`` placeholders, and their parameters, to be ANDed.

        Column names come from this module, never from the caller; values only
        ever travel as parameters.
        """
        conditions = [f"{column} = ?" for column, _ in self.equal]
        params: list[Any] = [value for _, value in self.equal]
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
            all(getattr(event, name) == value for name, value in self.equal)
            and (self.since is None or event.time >= self.since)
            and (self.until is None or event.time < self.until)
        )


class Queryable(ABC):
    """``query`` as every backend offers it; a backend answers one :class:`EventFilter`."""

    def query(self, *, limit: int | None = None, **filters: Unpack[Filters]) -> list[AuditEvent]:
        """Events matching every filter given, oldest first; ``until`` is exclusive."""
        return self._query(EventFilter(**filters), limit)

    @abstractmethod
    def _query(self, wanted: EventFilter, limit: int | None) -> list[AuditEvent]:
        """The events ``wanted`` selects, ordered by (time, host_id, seq), at most ``limit``."""
