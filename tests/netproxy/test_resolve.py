"""The decision alone: the name, then every address it resolves to (no traffic at all)."""

from __future__ import annotations

from corral.netproxy import decide, mapping_resolver
from tests.netproxy.conftest import NAMES, grant

RESOLVE = mapping_resolver(NAMES)


def test_allow_an_address_granted_by_address():
    verdict = decide(grant("127.0.0.1:8080"), "127.0.0.1", 8080, RESOLVE)
    assert verdict.allowed and verdict.addresses == ("127.0.0.1",)


def test_deny_a_name_that_resolves_to_loopback_dns_rebinding():
    verdict = decide(grant("rebound.test:8080"), "rebound.test", 8080, RESOLVE)
    assert not verdict.allowed
    assert verdict.address == "127.0.0.1"
    assert verdict.permission == "network:connect=127.0.0.1:8080"
    assert "internal address" in verdict.reason


def test_allow_a_name_resolving_to_loopback_when_the_address_is_granted_too():
    verdict = decide(grant("granted.test:8080", "127.0.0.1:8080"), "granted.test", 8080, RESOLVE)
    assert verdict.allowed and verdict.addresses == ("127.0.0.1",)


def test_allow_a_granted_name_with_a_public_address():
    """Decided only: nothing connects to it (tests send traffic to loopback alone)."""
    verdict = decide(grant("public.test:443"), "public.test", 443, RESOLVE)
    assert verdict.allowed and verdict.addresses == ("93.184.216.34",)


def test_deny_entries_win_over_a_granted_name():
    g = grant("*.test:443", "127.0.0.0/8:*", denies=("127.0.0.1:*",))
    verdict = decide(g, "granted.test", 443, RESOLVE)
    assert not verdict.allowed
    assert "deny" in verdict.reason and verdict.permission == ""


def test_deny_the_other_port_and_names_the_permission():
    verdict = decide(grant("127.0.0.1:8080"), "127.0.0.1", 8081, RESOLVE)
    assert not verdict.allowed and verdict.permission == "network:connect=127.0.0.1:8081"


def test_deny_an_address_outside_the_granted_cidr():
    g = grant("127.0.0.0/31:8080")
    assert decide(g, "127.0.0.1", 8080, RESOLVE).allowed
    assert not decide(g, "127.0.0.2", 8080, RESOLVE).allowed


def test_deny_a_name_that_does_not_resolve():
    verdict = decide(grant("*.test:80"), "nowhere.test", 80, RESOLVE)
    assert not verdict.allowed and "cannot resolve" in verdict.reason


def test_deny_ipv6_loopback_unless_granted_by_address():
    assert not decide(grant("127.0.0.1:80"), "::1", 80, RESOLVE).allowed
    assert decide(grant("[::1]:80"), "::1", 80, RESOLVE).allowed
