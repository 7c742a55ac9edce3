"""One filter definition: the SQL a store runs and the test a sink applies select the same events."""

import itertools
from datetime import UTC, datetime

import pytest

from corral.audit import AuditEvent, MemorySink
from corral.audit.filters import EventFilter
from corral.audit.sqlite import SqliteStore

FILTERS = [
    dict(zip(("plugin", "kind", "decision", "since", "until"), values, strict=True))
    for values in itertools.product(
        (None, "p", "q"),
        (None, "denied", "grant"),
        (None, "deny", "info"),
        (None, 103, "1970-01-01T00:01:43"),  # 103 s as a number and as ISO text
        (None, 106, datetime.fromtimestamp(106, UTC)),
    )
]


def _events() -> list[AuditEvent]:
    return [
        AuditEvent(
            time=100 + n,
            kind=("denied", "grant")[n % 2],
            plugin=("p", "q", "r")[n % 3],
            decision=("deny", "info")[n // 4 % 2],
            details={"n": n},
        )
        for n in range(10)
    ]


def test_stores_and_sinks_select_the_same_events_for_every_filter(tmp_path):
    store = SqliteStore(tmp_path / "corral.db", host_id="a")
    other = SqliteStore(tmp_path / "corral.db", host_id="b")
    sink = MemorySink("a")
    try:
        for n, event in enumerate(_events()):
            (store if n % 2 else other).write(event)
            sink.write(event)
        everything = store.query()
        assert len(everything) == 10
        for wanted in FILTERS:
            in_sql = [e.id for e in store.query(**wanted)]
            in_python = [e.id for e in everything if EventFilter(**wanted).matches(e)]
            assert in_sql == in_python, wanted
            assert [e.id for e in sink.query(**wanted)] == in_sql, wanted
            paged = store.page(**wanted, limit=100)
            assert [e.id for e in reversed(paged)] == in_sql, wanted
        for host in ("a", "b"):
            assert {e.host_id for e in store.query(host_id=host)} == {host}
            assert len(store.query(host_id=host)) == 5
    finally:
        store.close()
        other.close()


def test_a_filter_value_never_becomes_sql():
    conditions, params = EventFilter(plugin="p' OR 1=1 --", since=5).where()
    assert conditions == ["plugin = ?", "time >= ?"]
    assert params == ["p' OR 1=1 --", 5.0]


def test_an_unknown_filter_is_refused_by_every_backend(tmp_path):
    store = SqliteStore(tmp_path / "corral.db", host_id="a")
    try:
        for query in (store.query, store.page, MemorySink("a").query):
            with pytest.raises(TypeError, match="unknown audit filter 'plugn'"):
                query(plugn="p")
    finally:
        store.close()
