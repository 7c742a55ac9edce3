"""The SQL stores, SQLite and PostgreSQL alike: chain, acknowledgement, query, tamper, prune.

Every test runs on both backends (the ``backend`` fixture). Tampering is done
the way an attacker with database access would: raw SQL on the file or the
server, outside corral; the verifier must then name the exact record.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

import pytest

from corral.audit import AuditEvent
from corral.errors import AuditError

DAY = 86400.0


def event(n=0, *, kind="denied", plugin="notes", decision="deny", t=1_000_000.0, **details):
    return AuditEvent(
        time=t + n, kind=kind, plugin=plugin, decision=decision, details={"n": n, **details}
    )


def fill(store, count, **kwargs):
    for n in range(count):
        store.write(event(n, **kwargs))


def ids_by_seq(backend, host="host-a"):
    return dict(backend.raw("SELECT seq, id FROM audit_events WHERE host_id = ?", (host,)))


def problem(store):
    [report] = store.verify()
    assert not report.ok, report.summary()
    return report.problem


# --- acknowledged writes and the chain -------------------------------------------


def test_a_written_event_is_in_the_database_when_write_returns(backend):
    with backend.open() as store:
        written = event(
            1, operation="open", target="/etc/shadow", permission="file:read=/etc/shadow"
        )
        store.write(written)
        # Another connection, outside corral, sees it before the store is closed.
        rows = backend.raw("SELECT id, seq, kind, details FROM audit_events")
    assert [(r[0], r[1], r[2]) for r in rows] == [(written.id, 1, "denied")]
    assert '"target": "/etc/shadow"' in rows[0][3]


def test_events_chain_each_to_the_hash_of_the_one_before(backend):
    with backend.open() as store:
        fill(store, 5)
        events = store.query()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
        assert after.hash == after.compute_hash()
    assert {e.host_id for e in events} == {"host-a"}


def test_concurrent_writers_still_form_one_unbroken_chain(backend):
    # Three threads, not more: each live thread gets its own 64 MB malloc arena in
    # the pytest process, and tests/sandbox/test_rlimits.py forks that process
    # under an address-space limit (see the audit report).
    with backend.open() as store:

        def writer(k):
            for n in range(50):
                store.write(event(n, plugin=f"p{k}"))
                store.submit(event(n, plugin=f"p{k}", kind="call.completed", decision="allow"))

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        [report] = store.verify()
    assert report.ok, report.summary()
    assert (report.records, report.first_seq, report.last_seq) == (300, 1, 300)


def test_a_reopened_store_resumes_its_hosts_chain(backend):
    with backend.open() as store:
        fill(store, 3)
        last = store.query()[-1]
    with backend.open() as store:
        store.write(event(9))
        newest = store.query()[-1]
        [report] = store.verify()
    assert (newest.seq, newest.prev_hash) == (4, last.hash)
    assert report.ok and report.records == 4


def test_each_host_has_its_own_chain_in_one_database(backend):
    with backend.open("host-a") as a, backend.open("host-b") as b:
        for n in range(3):
            a.write(event(n))
            b.write(event(n, plugin="other"))
        reports = {r.host_id: r for r in a.verify()}
        mine = a.query(host_id="host-b")
    assert sorted(reports) == ["host-a", "host-b"]
    assert all(r.ok and r.records == 3 for r in reports.values())
    assert [e.seq for e in mine] == [1, 2, 3]


def test_submitted_events_are_acknowledged_by_flush(backend):
    with backend.open() as store:
        for n in range(50):
            store.submit(event(n, kind="call.completed", decision="allow"))
        store.flush()
        count = backend.raw("SELECT COUNT(*) FROM audit_events")[0][0]
    assert count == 50


def test_a_write_that_cannot_commit_raises_instead_of_vanishing(backend):
    with backend.open() as store:
        store.write(event(0))
        backend.raw("DROP TABLE audit_events")
        with pytest.raises(AuditError, match="not recorded"):
            store.write(event(1))
        store.submit(event(2))
        with pytest.raises(AuditError, match="not recorded"):
            store.flush()


def test_a_schema_from_a_newer_corral_is_refused(backend):
    backend.open().close()
    backend.raw("UPDATE audit_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(AuditError, match="schema version 99"):
        backend.open()


# --- query ------------------------------------------------------------------------


def test_query_filters_by_plugin_kind_decision_and_time(backend):
    with backend.open() as store:
        store.write(event(0, plugin="a", kind="denied", decision="deny"))
        store.write(event(10, plugin="b", kind="grant", decision="info"))
        store.write(event(20, plugin="a", kind="call.completed", decision="allow"))
        store.write(event(30, plugin="a", kind="denied", decision="deny"))

        def ns(**filters):
            return [e.details["n"] for e in store.query(**filters)]

        assert ns() == [0, 10, 20, 30]
        assert ns(plugin="a") == [0, 20, 30]
        assert ns(kind="denied") == [0, 30]
        assert ns(decision="info") == [10]
        assert ns(since=1_000_010.0, until=1_000_030.0) == [10, 20]
        assert ns(since="1970-01-12T13:46:50") == [10, 20, 30]
        assert ns(plugin="a", limit=2) == [0, 20]
        assert ns(host_id="nobody") == []


# --- tamper evidence --------------------------------------------------------------


def test_verify_names_an_edited_record(backend):
    with backend.open() as store:
        fill(store, 6)
        ids = ids_by_seq(backend)
        backend.raw("UPDATE audit_events SET decision = 'allow' WHERE seq = 4")
        found = problem(store)
    assert (found.seq, found.id, found.what) == (4, ids[4], "edited")


def test_verify_names_an_edited_record_even_when_its_hash_was_recomputed(backend):
    with backend.open() as store:
        fill(store, 5)
        second = store.query()[1]
        forged = replace(second, decision="allow")
        forged = replace(forged, hash=forged.compute_hash())
        backend.raw(
            "UPDATE audit_events SET decision = 'allow', hash = ? WHERE seq = 2", (forged.hash,)
        )
        found = problem(store)
    assert (found.seq, found.id, found.what) == (2, second.id, "edited")
    assert "recomputed" in found.detail


def test_verify_names_a_deleted_record(backend):
    with backend.open() as store:
        fill(store, 6)
        ids = ids_by_seq(backend)
        backend.raw("DELETE FROM audit_events WHERE seq = 3")
        found = problem(store)
    assert (found.seq, found.id, found.what) == (4, ids[4], "deleted")
    assert "seq 3 missing" in found.detail


def test_verify_names_a_cut_off_tail(backend):
    with backend.open() as store:
        fill(store, 6)
        backend.raw("DELETE FROM audit_events WHERE seq >= 5")
        found = problem(store)
    assert (found.seq, found.what) == (5, "deleted")
    assert "5..6 missing at the end" in found.detail


def test_verify_names_reordered_records(backend):
    with backend.open() as store:
        fill(store, 6)
        ids = ids_by_seq(backend)
        backend.raw("UPDATE audit_events SET seq = -seq WHERE seq IN (3, 4)")
        backend.raw(
            "UPDATE audit_events SET seq = CASE seq WHEN -3 THEN 4 ELSE 3 END WHERE seq < 0"
        )
        found = problem(store)
    # The record that was at 4 now sits at 3, following the record that moved to 4.
    assert (found.seq, found.id, found.what) == (3, ids[4], "reordered")


def test_verify_names_a_record_inserted_mid_chain(backend):
    with backend.open() as store:
        fill(store, 5)
        ids = ids_by_seq(backend)
        # Shift 4..5 up, then slip in a well-formed record at 4 that links to 3.
        backend.raw("UPDATE audit_events SET seq = -(seq + 1) WHERE seq >= 4")
        backend.raw("UPDATE audit_events SET seq = -seq WHERE seq < 0")
        backend.raw("UPDATE audit_heads SET seq = seq + 1")
        third = store.query()[2]
        forged = event(99, decision="allow").chained(host_id="host-a", seq=4, prev_hash=third.hash)
        backend.raw(
            "INSERT INTO audit_events (host_id, seq, id, time, kind, plugin, decision, source,"
            " version, digest, worker, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "host-a",
                4,
                forged.id,
                forged.time,
                forged.kind,
                forged.plugin,
                forged.decision,
                forged.source,
                "",
                "",
                "",
                '{"n": 99}',
                forged.prev_hash,
                forged.hash,
            ),
        )
        found = problem(store)
    assert (found.seq, found.id, found.what) == (4, forged.id, "inserted")
    assert forged.id not in ids.values()


def test_verify_names_a_record_appended_past_the_head(backend):
    with backend.open() as store:
        fill(store, 3)
        backend.raw(
            "INSERT INTO audit_events SELECT host_id, 4, 'forged', time, kind, plugin, decision,"
            " source, version, digest, worker, details, hash, hash FROM audit_events WHERE seq = 3"
        )
        found = problem(store)
    assert (found.seq, found.id, found.what) == (4, "forged", "inserted")


# --- retention --------------------------------------------------------------------


def test_prune_deletes_old_records_and_the_rest_still_verifies(backend):
    now = 1_000_000.0 + 400 * DAY
    with backend.open(clock=lambda: now) as store:
        for n, age_days in enumerate([500, 400, 366, 100, 1]):
            store.write(event(n, t=now - age_days * DAY - n))
        ids = ids_by_seq(backend)
        [pruned] = store.prune("365d")
        left = [e.details.get("n") for e in store.query(plugin="notes")]
        [report] = store.verify()
        [note] = store.query(kind="audit.pruned")
    assert (pruned.deleted, pruned.checkpoint.seq) == (3, 3)
    assert left == [3, 4]
    assert report.ok and report.checkpoint.seq == 3, report.summary()
    assert note.details["hosts"]["host-a"] == {"deleted": 3, "checkpoint_seq": 3}
    assert note.details["older_than_seconds"] == 365 * DAY
    assert sorted(ids_by_seq(backend)) == [4, 5, 6]  # 6: the audit.pruned event itself
    assert ids_by_seq(backend)[4] == ids[4]


def test_tampering_after_a_prune_is_still_caught(backend):
    now = 1_000_000.0 + 400 * DAY
    with backend.open(clock=lambda: now) as store:
        for n, age_days in enumerate([500, 400, 10, 5, 1]):
            store.write(event(n, t=now - age_days * DAY))
        store.prune("365d")
        ids = ids_by_seq(backend)
        backend.raw("UPDATE audit_events SET prev_hash = ? WHERE seq = 3", ("f" * 64,))
        found = problem(store)
    assert (found.seq, found.id) == (3, ids[3])


def test_prune_refuses_to_destroy_a_broken_chain(backend):
    now = 1_000_000.0 + 400 * DAY
    with backend.open(clock=lambda: now) as store:
        for n in range(4):
            store.write(event(n, t=now - 500 * DAY))
        backend.raw("DELETE FROM audit_events WHERE seq = 2")
        with pytest.raises(AuditError, match=r"refusing to prune host host-a.*seq 3"):
            store.prune("365d")
        assert backend.raw("SELECT COUNT(*) FROM audit_events")[0][0] == 3


def test_prune_only_ever_cuts_a_prefix_of_the_chain(backend):
    # An old record after a new one (clocks are not monotonic) stays: cutting it
    # out would leave a gap the verifier must call a deletion.
    now = 1_000_000.0 + 400 * DAY
    with backend.open(clock=lambda: now) as store:
        for n, age_days in enumerate([500, 10, 500, 1]):
            store.write(event(n, t=now - age_days * DAY))
        [pruned] = store.prune("365d")
        [report] = store.verify()
    assert pruned.deleted == 1
    assert report.ok


# --- failure modes ----------------------------------------------------------------


def test_a_record_edited_into_garbage_is_named_not_a_crash(backend):
    with backend.open() as store:
        fill(store, 4)
        ids = ids_by_seq(backend)
        backend.raw("UPDATE audit_events SET kind = 'nonsense', details = '{' WHERE seq = 2")
        found = problem(store)
        with pytest.raises(AuditError, match="record seq 2 of host host-a is unreadable"):
            store.query()
    assert (found.seq, found.id, found.what) == (2, ids[2], "edited")


def test_a_store_used_after_fork_refuses_instead_of_hanging(backend):
    import os

    with backend.open() as store:
        pid = os.fork()
        if pid == 0:
            try:
                store.write(event(0))
            except AuditError:
                os._exit(7)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        store.write(event(1))
    assert os.waitstatus_to_exitcode(status) == 7


def test_postgresql_hosts_never_wait_on_each_others_chain(postgresql_backend):
    import psycopg

    with postgresql_backend.open("host-a") as a, postgresql_backend.open("host-b") as b:
        a.write(event(0))
        b.write(event(0))
        # Another process is mid-append for host-a: it holds host-a's head row.
        with psycopg.connect(postgresql_backend.target) as holder:
            holder.execute("SELECT seq FROM audit_heads WHERE host_id = 'host-a' FOR UPDATE")
            blocked = threading.Thread(target=a.write, args=(event(1),))
            blocked.start()
            b.write(event(1))  # host-b appends while host-a's chain is locked
            blocked.join(timeout=1.0)
            assert blocked.is_alive(), "host-a's append must wait for its own head"
            holder.rollback()
        blocked.join(timeout=10)
        assert not blocked.is_alive()
        reports = {r.host_id: r for r in a.verify()}
    assert reports["host-a"].ok and reports["host-a"].records == 2
    assert reports["host-b"].ok and reports["host-b"].records == 2
