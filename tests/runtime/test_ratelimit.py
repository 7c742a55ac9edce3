"""The token bucket that holds a plugin's host calls to a rate, on a fake clock."""

from __future__ import annotations

import pytest

from corral.runtime.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_rate_holds():
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back at 2/s
    assert [bucket.take(), bucket.take()] == [True, False]


def test_an_idle_bucket_refills_only_to_its_burst():
    clock = Clock()
    bucket = TokenBucket(rate=100.0, burst=2, clock=clock)
    clock.now += 60
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_a_bucket_that_could_never_pass_is_refused():
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
