"""The memory and JSONL sinks: same query semantics and the same chain as the SQL stores."""

from corral.audit import AuditEvent, JsonlSink, MemorySink, open_store
from corral.audit.sqlite import SqliteStore


def ev(n, **kw):
    return AuditEvent(
        time=100 + n,
        kind=kw.pop("kind", "denied"),
        plugin=kw.pop("plugin", "p"),
        decision=kw.pop("decision", "deny"),
        details={"n": n},
    )


def test_memory_sink_chains_and_verifies():
    sink = MemorySink("h")
    for n in range(4):
        sink.write(ev(n))
    assert [e.seq for e in sink.events] == [1, 2, 3, 4]
    assert sink.verify()[0].ok
    sink.events[1] = ev(9).chained(host_id="h", seq=2, prev_hash=sink.events[0].hash)
    # A replaced record with a fresh hash: its successor still links to the original.
    assert str(sink.verify()[0].problem).startswith(f"seq 2 (id {sink.events[1].id}): edited")


def test_jsonl_sink_resumes_its_chain_and_filters_like_the_stores(tmp_path):
    path = tmp_path / "audit.jsonl"
    with_first = JsonlSink(path, "h")
    with_first.write(ev(0))
    with_first.close()
    sink = JsonlSink(path, "h")
    sink.write(ev(1, plugin="q", decision="info", kind="grant"))
    events = sink.query()
    assert [e.seq for e in events] == [1, 2] and events[1].prev_hash == events[0].hash
    assert [e.plugin for e in sink.query(decision="info")] == ["q"]
    assert [e.seq for e in sink.query(since=101)] == [2]
    sink.close()


def test_open_store_names(tmp_path):
    assert isinstance(open_store("memory", host_id="h"), MemorySink)
    assert isinstance(open_store(tmp_path / "a.jsonl"), JsonlSink)
    for target in (str(tmp_path / "x.db"), f"sqlite:///{tmp_path}/y.db"):
        store = open_store(target)
        assert isinstance(store, SqliteStore)
        store.close()
    import pytest

    from corral.errors import AuditError

    with pytest.raises(AuditError, match=r"unknown audit store scheme 'mysql'.*u:\*\*\*@db"):
        open_store("mysql://u:secret@db/x")
    with pytest.raises(AuditError, match="cannot connect to the PostgreSQL audit store"):
        open_store("postgresql://nobody@/nowhere?host=/nonexistent-dir&port=1")
