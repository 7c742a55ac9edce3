"""Resource limits: seed 003's defaults, strict values, clamping with reasons."""

import pytest
from pydantic import ValidationError

from corral.policy import ResourceLimits
from corral.policy.resources import clamp


def test_defaults_are_seed_003s():
    limits = ResourceLimits()
    assert (limits.memory_mb, limits.cpu_percent, limits.file_size_mb) == (500, 80, 100)
    assert (limits.init_timeout_seconds, limits.hook_timeout_seconds) == (30, 5)
    assert limits.call_timeout_seconds == 300


@pytest.mark.parametrize(
    "values",
    [
        {"memory_mb": 0},
        {"memory_mb": "256"},
        {"processes": True},
        {"cpu_percent": -1},
        {"hook_timeout_seconds": "5"},
        {"memory": 1},
    ],
)
def test_limits_are_strict_and_positive(values):
    with pytest.raises(ValidationError):
        ResourceLimits.model_validate(values)


def test_clamp_cuts_to_the_ceiling_and_says_whether_the_value_was_asked_or_default():
    asked = ResourceLimits.model_validate({"memory_mb": 1024, "hook_timeout_seconds": 1})
    ceiling = ResourceLimits(memory_mb=256, cpu_percent=25)
    given, cuts = clamp(asked, ceiling, "community")
    assert (given.memory_mb, given.cpu_percent, given.hook_timeout_seconds) == (256, 25, 1)
    assert cuts == (
        ("memory_mb", 1024, 256, "asked 1024 MB is above the community tier ceiling of 256 MB"),
        ("cpu_percent", 80, 25, "default 80 % is above the community tier ceiling of 25 %"),
    )


def test_nothing_is_clamped_within_the_ceiling():
    given, cuts = clamp(ResourceLimits(memory_mb=64), ResourceLimits(), "enterprise")
    assert cuts == ()
    assert given.memory_mb == 64
