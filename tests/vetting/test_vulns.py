"""Vulnerability reports, the score and the gate (seed 001).

Every store test runs on SQLite and on a real PostgreSQL (tests/postgres.py):
the table follows the home's lifecycle state there, and must answer the same.
"""

import sqlite3
import time

import pytest

from corral.errors import HostError
from corral.policy import AdminPolicy, default_policy
from corral.runtime.shared import open_vulns
from corral.vetting import vet_source
from corral.vetting.vulns import assess, score, version_key, vuln_gate


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 1
        return self.now


class Recorded:
    def __init__(self):
        self.events = []

    def __call__(self, kind, plugin, version, decision, details):
        self.events.append((kind, plugin, version, decision, details))


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """A lifecycle target: the home's corral.db, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "corral.db")
    return request.getfixturevalue("postgresql_backend").target


@pytest.fixture
def store(target):
    return open_vulns(target, host_id="h1", clock=Clock())


def _raw(target, sql):
    """Read the table directly, outside corral."""
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as conn:
            return conn.execute(sql).fetchall()
    db = sqlite3.connect(target)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_reports_live_in_the_vuln_reports_table(store, target):
    assert store.tables.kind == ("postgresql" if target.startswith("postgresql") else "sqlite")
    store.report("weather", "1.0.0", "high", "CVE-2026-0001", fixed_in="1.1.0")
    if store.tables.kind == "sqlite":
        assert _raw(target, "PRAGMA journal_mode") == [("wal",)]
    rows = _raw(target, "SELECT plugin, version, severity, vuln_id, fixed_in, status, host_id"
                        " FROM vuln_reports")
    assert rows == [("weather", "1.0.0", "high", "CVE-2026-0001", "1.1.0", "open", "h1")]


def test_timestamps_keep_full_precision_and_a_second_store_reads_the_same_rows(target):
    """PostgreSQL's ``real`` would round today's time to minutes: the columns are double."""
    now = time.time()
    first = open_vulns(target, host_id="a", clock=lambda: now)
    made = first.report("weather", "1.0.0", "critical", "CVE-2026-0009")
    second = open_vulns(target, host_id="b")  # another process, creating the tables again
    assert second.get("weather", "CVE-2026-0009") == made
    assert made.reported_at == now
    assert second.affecting("weather", "1.0.5") == [made]


def test_a_report_affects_versions_from_its_own_up_to_the_fix(store):
    report = store.report("weather", "1.2.0", "critical", "CVE-2026-0002", fixed_in="1.4.0")
    assert [v for v in ("1.1.9", "1.2.0", "1.3.5", "1.4.0-rc.1", "1.4.0", "2.0.0")
            if report.affects(v)] == ["1.2.0", "1.3.5", "1.4.0-rc.1"]
    unfixed = store.report("weather", "1.2.0", "low", "GHSA-xxxx")
    assert unfixed.affects("9.0.0")


def test_semantic_versions_order_numerically_and_prereleases_first():
    assert version_key("1.10.0") > version_key("1.9.0")
    assert version_key("1.0.0-alpha") < version_key("1.0.0-alpha.1") < version_key("1.0.0")
    with pytest.raises(HostError, match="not a semantic version"):
        version_key("latest")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("p", "1.0.0", "severe", "CVE-1"), "severity 'severe' is not one of"),
        (("p", "one", "low", "CVE-1"), "'one' is not a semantic version"),
        (("p", "1.0.0", "low", "bad id!"), "is not a vulnerability id"),
    ],
)
def test_bad_input_is_a_clear_error(store, args, message):
    with pytest.raises(HostError, match=message):
        store.report(*args)
    with pytest.raises(HostError, match="must be later than"):
        store.report("p", "2.0.0", "low", "CVE-2", fixed_in="1.0.0")


def test_reporting_again_updates_and_reopens_and_everything_is_audited(store):
    record = Recorded()
    store.report("p", "1.0.0", "medium", "CVE-3", record=record)
    store.resolve("p", "CVE-3", record=record)
    again = store.report("p", "1.0.0", "high", "CVE-3", fixed_in="1.0.1", record=record)
    assert (again.status, again.severity, again.fixed_in) == ("open", "high", "1.0.1")
    assert [(e[0], e[4].get("updated")) for e in record.events] == [
        ("vuln.reported", False),
        ("vuln.resolved", None),
        ("vuln.reported", True),
    ]
    assert len(store.reports("p")) == 1
    with pytest.raises(HostError, match="no report CVE-9"):
        store.resolve("p", "CVE-9")


def test_the_score_combines_findings_and_reports_and_critical_dominates(store):
    findings = vet_source("import pickle\npickle.loads(b'')\nimport os\nos.remove('x')\n")
    assert score(findings, []).value == 10 + 4
    store.report("p", "1.0.0", "medium", "CVE-4")
    assert score(findings, store.affecting("p", "1.0.0")).value == 10 + 4 + 15
    store.report("p", "1.0.0", "critical", "CVE-5", fixed_in="1.0.1")
    assert score(findings, store.affecting("p", "1.0.0")).value == 100
    assert score(findings, store.affecting("p", "1.0.1")).value == 10 + 4 + 15


def test_findings_alone_are_capped_below_the_maximum():
    many = vet_source("import pickle\n" + "pickle.loads(b'')\n" * 30)
    assert score(many, []).value == 60


def test_the_gate_disables_on_critical_until_a_fixed_version_is_installed(store):
    policy = default_policy()
    store.report("p", "1.0.0", "critical", "CVE-6", fixed_in="1.2.0")
    record = Recorded()
    _, gate = assess(store, "p", "1.1.0", [], policy, record=record)
    assert gate.action == "disable"
    assert "critical vulnerability CVE-6 affects it (fixed in 1.2.0)" in gate.reason
    assert record.events[0][0] == "vuln.gate" and record.events[0][3] == "deny"
    _, fixed = assess(store, "p", "1.2.0", [], policy, record=record)
    assert fixed.action == "allow"
    assert len(record.events) == 1


def test_the_gate_refuses_above_max_score(store):
    store.report("p", "1.0.0", "high", "CVE-7")
    store.report("p", "1.0.0", "medium", "CVE-8")
    current, gate = assess(store, "p", "1.0.0", [], default_policy())
    assert (current.value, gate.action) == (50, "allow")  # at the maximum is allowed
    findings = vet_source("import os\nos.remove('x')\n")
    current, gate = assess(store, "p", "1.0.0", findings, default_policy())
    assert (current.value, gate.action) == (54, "refuse")
    assert "above the policy's maximum of 50" in gate.reason
    lenient = AdminPolicy.from_dict({"vulnerabilities": {"max_score": 80}})
    assert vuln_gate("p", "1.0.0", current, lenient).action == "allow"


def test_resolved_reports_no_longer_count(store):
    store.report("p", "1.0.0", "critical", "CVE-9")
    store.resolve("p", "CVE-9")
    assert assess(store, "p", "1.0.0", [], default_policy())[1].action == "allow"
