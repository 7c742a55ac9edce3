"""Which violation an event is, how many fell in a window, and which rule answers it."""

from __future__ import annotations

import pytest

import corral
from corral.policy import AdminPolicy
from corral.policy.errors import PolicyFileError
from corral.runtime.violations import ViolationCounter, denial_type, error_type
from tests.runtime._monitoring import Clock


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("file", "filesystem"),
        ("network", "network"),
        ("env", "permission"),
        ("subprocess", "permission"),
        ("app", "permission"),
        ("", "permission"),
    ],
)
def test_guard_denials_are_typed_by_their_domain(domain, expected):
    assert denial_type({"domain": domain, "action": "read"}) == expected


def test_failed_calls_are_typed_by_error():
    assert error_type(corral.PluginTimeout("t")) == "timeout"
    assert error_type(corral.ResourceLimitExceeded("m")) == "resource"
    assert error_type(corral.PluginCrashed("c")) == "crash"
    assert error_type(corral.PluginFailed("own bug")) is None  # the plugin's own exception
    assert error_type(corral.PermissionDenied("d")) is None  # counted from its guard event


def test_counts_slide_with_the_clock():
    clock = Clock()
    counter = ViolationCounter(clock)
    for _ in range(4):
        counter.add("p", "permission", [60])
        clock.advance(10)
    assert counter.add("p", "permission", [60, 300]) == {60: 5, 300: 5}
    clock.advance(55)  # the first four are now older than 60 s
    assert counter.add("p", "permission", [60, 300]) == {60: 2, 300: 6}
    assert counter.add("q", "permission", [60]) == {60: 1}  # per plugin
    counter.forget("p")
    assert counter.add("p", "permission", [60]) == {60: 1}


def test_default_ladders_are_designs_response_defaults():
    r = AdminPolicy().responses
    pick = lambda kind, n, w=60.0: r.choose("p", kind, {w: n}).action  # noqa: E731
    assert [pick("permission", n) for n in (1, 4, 5, 9)] == ["warn", "warn", "suspend", "suspend"]
    assert [pick("filesystem", n) for n in (1, 5)] == ["warn", "suspend"]
    assert [pick("resource", n) for n in (1, 2, 3, 4, 5)] == [
        "warn",
        "warn",
        "throttle",
        "throttle",
        "kill",
    ]
    assert [pick("timeout", n, 300.0) for n in (1, 2, 3)] == ["kill", "kill", "suspend"]
    assert [pick("crash", n, 600.0) for n in (1, 4, 5)] == ["restart", "restart", "disable"]
    assert [r.backoff(n) for n in (1, 2, 3, 7, 8)] == [1, 2, 4, 60, 60]


def test_per_plugin_override_replaces_one_ladder_only():
    policy = AdminPolicy.from_dict(
        {"responses": {"plugins": {"noisy": {"permission": [{"action": "disable", "after": 2}]}}}}
    )
    assert policy.responses.choose("noisy", "permission", {60.0: 1}) is None
    assert policy.responses.choose("noisy", "permission", {60.0: 2}).action == "disable"
    assert policy.responses.choose("noisy", "crash", {600.0: 1}).action == "restart"
    assert policy.responses.choose("other", "permission", {60.0: 2}).action == "warn"


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"responses": {"crash": [{"action": "explode"}]}}, "responses.crash[0].action"),
        (
            {"responses": {"timeout": [{"action": "kill", "after": 0}]}},
            "responses.timeout[0].after",
        ),
        ({"responses": {"throttle_factor": 2}}, "responses.throttle_factor"),
        ({"monitoring": {"interval_seconds": 0}}, "monitoring.interval_seconds"),
        ({"responses": {"plugins": {"x": {"crsh": []}}}}, "responses.plugins.x.crsh"),
    ],
)
def test_bad_response_policy_names_the_field(section, field):
    with pytest.raises(PolicyFileError) as info:
        AdminPolicy.from_dict(section)
    assert field in str(info.value)
