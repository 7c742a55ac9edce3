"""The dashboard's reads are index ranges, not table scans, however large the log grows."""

from __future__ import annotations

import sqlite3

import pytest

from corral.audit import AuditEvent, open_store

FILTERS = [
    {},
    {"plugin": "p1"},
    {"kind": "violation"},
    {"plugin": "p1", "kind": "violation"},
    {"plugin": "p1", "decision": "deny", "since": 10.0},
]


@pytest.fixture
def store(tmp_path):
    """A SQLite store with enough rows for the planner to prefer its indexes honestly."""
    path = tmp_path / "corral.db"
    s = open_store(path, host_id="h")
    for i in range(400):
        s.submit(
            AuditEvent(
                time=float(i),
                kind=("violation", "call.completed", "denied")[i % 3],
                plugin=f"p{i % 7}",
                decision=("allow", "deny", "info")[i % 3],
            )
        )
    s.flush()
    db = sqlite3.connect(path)
    db.execute("ANALYZE")
    db.close()
    yield s, path
    s.close()


def plan(path, store, filters, before):
    """SQLite's plan for the exact statement ``page`` runs (captured from its reader)."""
    captured = []
    real = store._exec

    def spy(conn, sql, params=()):
        captured.append((sql, list(params)))
        return real(conn, sql, params)

    store._exec = spy
    try:
        store.page(**filters, before=before, limit=50)
    finally:
        del store._exec
    sql, params = captured[-1]
    db = sqlite3.connect(path)
    try:
        return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        db.close()


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "none")
@pytest.mark.parametrize("before", [None, (200.0, "zzz")], ids=["first", "deeper"])
def test_an_audit_page_is_an_index_range_not_a_scan(store, filters, before):
    s, path = store
    steps = plan(path, s, filters, before)
    # A walk along an index in ORDER BY order stops after LIMIT rows; a table scan, or a
    # sort of every match (TEMP B-TREE FOR ORDER BY, not just its tie-breaking right part),
    # would read every row first.
    table = [step for step in steps if "audit_events" in step]
    assert table and all("USING INDEX" in step for step in table), steps
    assert "USE TEMP B-TREE FOR ORDER BY" not in steps, steps


def test_keyset_pages_cover_every_event_once_newest_first(store):
    s, _ = store
    seen, before = [], None
    while True:
        found = s.page(kind="violation", before=before, limit=17)
        if not found:
            break
        seen.extend(found)
        before = (found[-1].time, found[-1].id)
    expected = [e.id for e in reversed(s.query(kind="violation"))]
    assert [e.id for e in seen] == expected
