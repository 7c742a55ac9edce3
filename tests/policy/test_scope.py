"""Scope kinds by domain: environment names, opaque names, unscoped grants."""

import pytest

from corral.policy import scope


def _match(domain, pattern, target):
    prepared = scope.prepare(domain, target)
    return scope.compile_matcher(domain, pattern, "/p", "/w")(prepared)


@pytest.mark.parametrize(
    ("domain", "kind"),
    [
        ("file", "path"),
        ("subprocess", "exec"),
        ("network", "net"),
        ("env", "env"),
        ("hook", "name"),
        ("database", "name"),
        ("work_orders", "name"),
    ],
)
def test_each_domain_has_one_kind(domain, kind):
    assert scope.kind_of(domain) == kind


def test_env_names_match_exactly_or_by_trailing_prefix():
    assert _match("env", "TZ", "TZ")
    assert not _match("env", "TZ", "TZX")
    assert _match("env", "MYAPP_*", "MYAPP_MODE")
    assert not _match("env", "MYAPP_*", "OTHER")


def test_opaque_names_use_shell_wildcards():
    assert _match("hook", "workflow.*", "workflow.completed")
    assert not _match("hook", "workflow.*", "billing.closed")
    assert _match("database", "orders", "orders")


def test_unscoped_matches_any_target_and_scoped_never_matches_an_empty_one():
    assert _match("data", None, "")
    assert not _match("data", "orders", "")


def test_path_matchers_fail_closed_without_roots():
    matcher = scope.compile_matcher("file", "data/**", "", "")
    assert not matcher("/p/data/x")
    assert not matcher("")


def test_a_path_matcher_never_matches_a_network_target():
    matcher = scope.compile_matcher("network", "*:*", "/p", "/w")
    assert not matcher("/etc/hosts")
