"""Network scopes: which host:port a pattern reaches, and which it never does."""

import pytest

from corral.policy import hosts


def _matches(pattern, target):
    parsed = hosts.parse_target(target)
    assert parsed is not None, target
    return hosts.parse_pattern(pattern).matches(parsed)


@pytest.mark.parametrize(
    ("pattern", "target", "matches"),
    [
        ("api.weather.gov:443", "api.weather.gov:443", True),
        ("api.weather.gov:443", "API.weather.gov.:443", True),
        ("api.weather.gov:443", "api.weather.gov:80", False),
        ("*.example.com:443", "a.example.com:443", True),
        ("*.example.com:443", "a.b.example.com:443", True),
        ("*.example.com:443", "example.com:443", False),
        ("*.example.com:443", "evil-example.com:443", False),
        ("*.example.com:443", "example.com.evil.net:443", False),
        ("db.internal:1000-2000", "db.internal:1500", True),
        ("db.internal:1000-2000", "db.internal:2001", False),
        ("10.0.0.0/8:5432", "10.20.30.40:5432", True),
        ("10.0.0.0/8:5432", "11.0.0.1:5432", False),
        ("[fd00::/8]:*", "[fd12::1]:9", True),
        ("127.0.0.1:8080", "127.0.0.1:8080", True),
        ("[::1]:8080", "[::1]:8080", True),
        ("localhost:8080", "localhost:8080", True),
    ],
)
def test_pattern_matching(pattern, target, matches):
    assert _matches(pattern, target) is matches


@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1:80",
        "10.1.2.3:80",
        "169.254.169.254:80",
        "[::1]:80",
        "localhost:80",
        "[::ffff:127.0.0.1]:80",
        "a.localhost:80",
    ],
)
def test_deny_private_addresses_through_a_wildcard(target):
    assert not _matches("*:*", target)


@pytest.mark.parametrize(
    ("pattern", "target"),
    [
        ("127.0.0.0/8:*", "127.0.0.1:80"),
        ("10.1.2.3:80", "10.1.2.3:80"),
        ("[::1]:80", "[::1]:80"),
        ("127.0.0.1:80", "[::ffff:127.0.0.1]:80"),
        ("a.localhost:80", "a.localhost:80"),
    ],
)
def test_allow_private_addresses_granted_by_address(pattern, target):
    assert _matches(pattern, target)


def test_allow_public_addresses_and_names_through_the_wildcard():
    assert _matches("*:*", "8.8.8.8:53")
    assert _matches("*:443", "example.org:443")


@pytest.mark.parametrize(
    "target", ["2130706433:80", "0x7f000001:80", "example.com:0", "x:99999", "noport"]
)
def test_targets_a_resolver_would_misread_are_not_targets(target):
    assert hosts.parse_target(target) is None


@pytest.mark.parametrize(
    ("scope", "canonical"),
    [
        ("*.Example.COM:443", "*.example.com:443"),
        ("[::ffff:10.0.0.1]:5", "10.0.0.1:5"),
        ("10.0.0.0/8:1-65535", "10.0.0.0/8:*"),
        ("host:7-7", "host:7"),
    ],
)
def test_canonical(scope, canonical):
    assert hosts.canonical(scope) == canonical


@pytest.mark.parametrize(
    "scope", ["host", "host:0", "host:5-3", "a..b:1", "10.0.0.1/8:1", "[::1:80", "-a.com:1"]
)
def test_malformed_scopes_are_refused(scope):
    with pytest.raises(ValueError):
        hosts.parse_pattern(scope)


def test_wildcard_and_covers():
    assert hosts.parse_pattern("*.a.com:443").wildcard
    assert hosts.parse_pattern("a.com:1-2").wildcard
    assert not hosts.parse_pattern("a.com:443").wildcard
    assert hosts.parse_pattern("*.a.com:*").covers(hosts.parse_pattern("*.b.a.com:443"))
    assert hosts.parse_pattern("10.0.0.0/8:*").covers(hosts.parse_pattern("10.1.0.0/16:80"))
    assert not hosts.parse_pattern("*:*").covers(hosts.parse_pattern("localhost:80"))
    assert not hosts.parse_pattern("10.0.0.0/8:*").covers(hosts.parse_pattern("[::1]:80"))
