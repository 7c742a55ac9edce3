"""The cycle's memory: check runs, fix deadlines, holds; and seed 001's response table."""

from __future__ import annotations

from corral.policy import AdminPolicy
from corral.vetting.cycle import DAY, CycleStore
from corral.vetting.vulns import VulnReport, last_check, respond, score


def test_the_next_check_is_due_an_interval_after_the_last_run_or_the_first_install(tmp_path):
    cycle = CycleStore(tmp_path / "corral.db")
    assert cycle.next_due(30, None) is None  # nothing installed, nothing to check
    assert cycle.next_due(30, 1000.0) == 1000.0 + 30 * DAY
    assert last_check(tmp_path / "corral.db") is None
    run = cycle.record_run(
        started_at=5000.0, finished_at=5001.0, plugins=2, flagged=1, disabled=0, errors=0
    )
    assert last_check(tmp_path / "corral.db") == run
    assert cycle.next_due(30, 1000.0) == 5001.0 + 30 * DAY
    assert last_check(tmp_path / "missing.db") is None


def test_a_deadline_opens_once_and_reopens_only_after_it_was_met(tmp_path):
    cycle = CycleStore(tmp_path / "corral.db")
    first, opened = cycle.open_deadline("p", "CVE-1", "1.0.0", "critical", now=1.0, due=8.0)
    assert opened and first.due == 8.0
    again, opened = cycle.open_deadline("p", "CVE-1", "1.0.0", "critical", now=2.0, due=9.0)
    assert not opened and again == first
    cycle.mark_passed("p", "CVE-1", now=9.0)
    assert cycle.deadlines("p")[0].passed_at == 9.0
    cycle.close_deadline("p", "CVE-1", now=10.0)
    assert cycle.deadlines("p") == []
    assert cycle.deadlines("p", open_only=False)[0].met_at == 10.0
    _, opened = cycle.open_deadline("p", "CVE-1", "1.1.0", "critical", now=20.0, due=27.0)
    assert opened


def _report(severity, vuln_id="CVE-1", reported_at=100.0):
    return VulnReport("id", "p", "1.0.0", severity, vuln_id, reported_at=reported_at)


def test_respond_follows_seed_001s_table():
    policy = AdminPolicy()
    reports = [_report(s, f"CVE-{s}") for s in ("critical", "high", "medium", "low")]
    planned = respond("p", "1.0.0", score([], reports), policy)
    assert [(a.action, a.report.severity if a.report else "") for a in planned] == [
        ("flag", ""),
        ("disable", "critical"),
        ("deadline", "critical"),
        ("review", "high"),
        ("warn", "medium"),
    ]
    deadline = next(a for a in planned if a.action == "deadline")
    assert deadline.due == 100.0 + 7 * DAY


def test_respond_to_a_policy_that_disables_high_and_gives_it_a_deadline():
    policy = AdminPolicy.from_dict(
        {"vulnerabilities": {"disable_on": ["high"], "fix_deadline_days": {"high": 30}}}
    )
    planned = respond("p", "1.0.0", score([], [_report("high")]), policy)
    assert [a.action for a in planned] == ["disable", "review", "deadline"]
    assert planned[-1].due == 100.0 + 30 * DAY
