"""Seed 001's review and vulnerability cycle through a real host, with a clock the test moves.

Each test loads real plugins into real pens, then judges the effect from
outside: whether a call runs, what the home's lifecycle state says, which
audit events were written. No test sleeps: days pass on the injected clock.
"""

from __future__ import annotations

import time

import pytest

import corral
from corral.runtime.lifecycle import SqliteLifecycleStore as LifecycleStore
from corral.runtime.vulncycle import last_check
from corral.trust import Keyring, ReviewStore, keys
from corral.vetting.vulns import VulnStore
from tests.runtime._monitoring import Clock, make_host
from tests.trust._crafted import entry_for, make_plugin, sign

pytestmark = pytest.mark.pen
DAY = 86400.0
QUIET = {"monitoring": {"interval_seconds": 3600}}


@pytest.fixture
def clock():
    return Clock(time.time())


def hello(tmp_path, version="1.0.0", tier="community"):
    return make_plugin(tmp_path / f"hello-{version}", version=version, tier=tier)


def events(audit, kind, plugin="signed-hello"):
    return audit.query(plugin=plugin, kind=kind)


def actions(audit):
    return [e.details["action"] for e in events(audit, "vuln.action")]


def report(home, clock, severity, vuln_id="CVE-2026-0001", *, version="1.0.0", fixed_in=None):
    return VulnStore(home / "corral.db", clock=clock).report(
        "signed-hello", version, severity, vuln_id, fixed_in=fixed_in
    )


# --- reviews -------------------------------------------------------------------------------


def test_an_unreviewed_professional_version_is_refused_with_the_command_to_run(
    home, audit, tmp_path, clock
):
    key = keys.generate()
    Keyring(path=home / "keyring.toml").with_entry(entry_for(key, tier="professional")).save()
    root = hello(tmp_path, tier="professional")
    sign(root, key)
    with make_host(home, QUIET, audit, clock=clock) as host:
        with pytest.raises(corral.TrustError) as refused:
            host.load(root)
        command = "corral review signed-hello 1.0.0 --level internal --notes FILE"
        assert command in str(refused.value) and "tier professional requires" in str(refused.value)
        (event,) = events(audit, "plugin.refused")
        assert command in event.details["error"] and event.decision == "deny"
        assert not events(audit, "worker.started")  # nothing ran
        assert not host.plugins()

        ReviewStore(home / "corral.db").add(
            "signed-hello", "1.0.0", level="internal", notes="read all of it", reviewer="ana"
        )
        assert host.load(root).call("hello") == "hello from the signed bytes"


def test_a_tier_can_ask_for_an_external_review(home, audit, tmp_path, clock):
    policy = {
        **QUIET,
        "tiers": {"community": {"requires_review": True, "review_level": "external"}},
    }
    reviews = ReviewStore(home / "corral.db")
    reviews.add("signed-hello", "1.0.0", level="internal", notes="ok", reviewer="ana")
    with make_host(home, policy, audit, clock=clock) as host:
        with pytest.raises(corral.TrustError, match=r"--level external --notes FILE"):
            host.load(hello(tmp_path))
        reviews.add("signed-hello", "1.0.0", level="external", notes="audit", reviewer="firm")
        assert host.load(hello(tmp_path)).call("hello")


# --- the check -----------------------------------------------------------------------------


def test_critical_disables_until_a_fixed_version_is_installed_with_a_7_day_deadline(
    home, audit, tmp_path, clock
):
    with make_host(home, QUIET, audit, clock=clock) as host:
        plugin = host.load(hello(tmp_path))
        assert plugin.call("hello")
        report(home, clock, "critical", fixed_in="1.0.1")

        result = host.vuln_cycle.run()
        (checked,) = result.plugins
        assert (checked.plugin, checked.version, checked.score) == ("signed-hello", "1.0.0", 100)
        stored = LifecycleStore(home / "corral.db").state("signed-hello")
        assert stored.state == "disabled" and "CVE-2026-0001" in stored.reason
        with pytest.raises(corral.PluginSuspended, match="disabled"):
            plugin.call("hello")
        assert actions(audit) == ["flag", "disable"]  # 100 is over the maximum, too
        (opened,) = events(audit, "vuln.deadline")
        assert opened.details["state"] == "opened"
        assert opened.details["due"] == pytest.approx(clock.now + 7 * DAY)

        clock.advance(6 * DAY)
        host.vuln_cycle.run()
        assert [e.details["state"] for e in events(audit, "vuln.deadline")] == ["opened"]
        clock.advance(1 * DAY + 60)
        host.vuln_cycle.run()
        host.vuln_cycle.run()  # a passed deadline is one event, not one per run
        states = [(e.details["state"], e.decision) for e in events(audit, "vuln.deadline")]
        assert states == [("opened", "info"), ("passed", "deny")]

        fixed = host.load(hello(tmp_path, version="1.0.1"))  # the fix: enabled again
        assert fixed.call("hello") and fixed.state == "running"
        assert LifecycleStore(home / "corral.db").state("signed-hello").state == "loaded"
        assert actions(audit)[-1] == "enable"
        host.vuln_cycle.run()
        met = events(audit, "vuln.deadline")[-1]
        assert (met.details["state"], met.details["late"]) == ("met", True)


def test_the_cycle_never_enables_a_plugin_a_person_disabled(home, audit, tmp_path, clock):
    with make_host(home, QUIET, audit, clock=clock) as host:
        host.load(hello(tmp_path))
        report(home, clock, "critical", fixed_in="1.0.1")
        host.vuln_cycle.run()
        host.disable("signed-hello", reason="stolen signing key, investigating")
        host.load(hello(tmp_path, version="1.0.1"))
        stored = LifecycleStore(home / "corral.db").state("signed-hello")
        assert (stored.state, stored.reason) == ("disabled", "stolen signing key, investigating")
        assert "enable" not in actions(audit)


def test_high_needs_a_new_review_before_the_version_loads_again(home, audit, tmp_path, clock):
    reviews = ReviewStore(home / "corral.db", clock=clock)
    reviews.add("signed-hello", "1.0.0", level="internal", notes="before", reviewer="ana")
    clock.advance(60)
    with make_host(home, QUIET, audit, clock=clock) as host:
        host.load(hello(tmp_path)).close()
        report(home, clock, "high")
        host.vuln_cycle.run()
        (asked,) = events(audit, "vuln.action")
        assert asked.details["action"] == "review" and asked.decision == "deny"
        command = "corral review signed-hello 1.0.0 --level internal --notes FILE"
        assert asked.details["command"] == command
        assert LifecycleStore(home / "corral.db").state("signed-hello") is None  # not disabled

        with pytest.raises(corral.TrustError, match="high vulnerability CVE-2026-0001") as err:
            host.load(hello(tmp_path))  # the review before the report does not count
        assert command in str(err.value)
        clock.advance(60)
        reviews.add("signed-hello", "1.0.0", level="internal", notes="after", reviewer="ana")
        assert host.load(hello(tmp_path)).call("hello")
        host.vuln_cycle.run()
        assert actions(audit) == ["review"]  # reviewed: nothing more to ask


def test_high_disables_when_policy_says_so(home, audit, tmp_path, clock):
    policy = {**QUIET, "vulnerabilities": {"disable_on": ["critical", "high"]}}
    with make_host(home, policy, audit, clock=clock) as host:
        plugin = host.load(hello(tmp_path))
        report(home, clock, "high")
        host.vuln_cycle.run()
        assert actions(audit) == ["disable", "review"]
        with pytest.raises(corral.PluginSuspended):
            plugin.call("hello")


def test_medium_is_a_warning_and_a_score_over_the_maximum_is_flagged(home, audit, tmp_path, clock):
    policy = {**QUIET, "vulnerabilities": {"max_score": 10}}
    with make_host(home, policy, audit, clock=clock) as host:
        plugin = host.load(hello(tmp_path))
        report(home, clock, "medium")
        host.vuln_cycle.run()
        assert actions(audit) == ["flag", "warn"]
        assert all(e.decision == "info" for e in events(audit, "vuln.action"))
        assert plugin.call("hello")  # a warning and a flag inform; the plugin still runs
        report(home, clock, "low", "CVE-2026-0002")
        host.vuln_cycle.run()
        assert actions(audit) == ["flag", "warn", "flag", "warn"]  # low: tracked, no action


def test_the_check_revets_with_the_rules_in_force_now(home, audit, tmp_path, clock):
    """A policy that now blocks nothing still scores what vetting finds in the stored bytes."""
    risky = make_plugin(
        tmp_path / "risky",
        **{"main.py": b"import corral\nclass Hello(corral.Plugin):\n"
                      b"    def hello(self):\n        return eval('1+1')\n"},
    )  # fmt: skip
    with make_host(home, QUIET, audit, clock=clock) as host:
        host.load(risky)
        (checked,) = host.vuln_cycle.run().plugins
        assert checked.findings >= 1 and checked.score > 0


# --- when it runs ----------------------------------------------------------------------------


def test_a_running_host_runs_the_check_when_overdue(home, audit, tmp_path, clock):
    with make_host(home, QUIET, audit, clock=clock) as host:
        host.load(hello(tmp_path))
        installed = clock.now
        host.monitor.tick()
        assert not audit.query(kind="vuln.check")  # a fresh install was just vetted
        assert last_check(home) is None

        clock.advance(30 * DAY)
        host.monitor.tick()
        summary = audit.query(plugin="", kind="vuln.check")
        assert len(summary) == 1 and summary[0].details["plugins"] == 1
        assert last_check(home).finished_at == installed + 30 * DAY

        clock.advance(29 * DAY)
        host.monitor.tick()
        host.load(hello(tmp_path, version="1.0.1"))
        assert len(audit.query(plugin="", kind="vuln.check")) == 1  # not due yet

        clock.advance(1 * DAY)
        host.load(hello(tmp_path, version="1.0.2"))  # at load, too
        assert len(audit.query(plugin="", kind="vuln.check")) == 2
        assert host.vuln_cycle.status()["next_due"] == clock.now + 30 * DAY
