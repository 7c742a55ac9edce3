"""Tiers as ceilings: DESIGN.md's numbers, ordering, action patterns."""

from corral.policy import DEFAULT_TIERS
from corral.policy.tiers import lowest, network_at_most


def test_ceilings_are_the_designed_numbers():
    got = {
        name: (
            t.limits.memory_mb,
            t.limits.cpu_percent,
            t.limits.disk_mb,
            t.limits.call_timeout_seconds,
        )
        for name, t in DEFAULT_TIERS.items()
    }
    assert got == {
        "community": (256, 25, 100, 30),
        "professional": (512, 50, 500, 120),
        "enterprise": (2048, 100, 5120, 600),
    }


def test_only_enterprise_gets_full_network_and_unscoped_wide_grants():
    assert {n: t.network for n, t in DEFAULT_TIERS.items()} == {
        "community": "restricted",
        "professional": "restricted",
        "enterprise": "full",
    }
    assert [n for n, t in DEFAULT_TIERS.items() if t.unscoped_wide] == ["enterprise"]
    assert not DEFAULT_TIERS["community"].wildcard_hosts
    assert DEFAULT_TIERS["professional"].wildcard_hosts


def test_signatures_and_isolation_per_tier():
    assert [t.signature for t in DEFAULT_TIERS.values()] == [
        "optional",
        "trusted-signer",
        "verified-publisher",
    ]
    assert {t.isolation for t in DEFAULT_TIERS.values()} == {"kernel"}


def test_action_patterns():
    community = DEFAULT_TIERS["community"]
    assert community.allows_action("file", "read")
    assert community.allows_action("work_orders", "read")
    assert not community.allows_action("work_orders", "write")
    assert not community.allows_action("network", "listen")
    assert DEFAULT_TIERS["professional"].allows_action("work_orders", "write")
    assert DEFAULT_TIERS["enterprise"].allows_action("users", "admin")


def test_lowest_and_network_cap():
    assert lowest("enterprise", "community", "professional") == "community"
    assert lowest("enterprise", "professional") == "professional"
    assert lowest("gold") == "community"
    assert network_at_most("full", "restricted") == "restricted"
    assert network_at_most("internal", "restricted") == "internal"
