"""Durations and times as administrators write them."""

from datetime import UTC, datetime

import pytest

from corral.audit import parse_duration
from corral.audit.retention import since_ago, to_epoch


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("365d", 365 * 86400),
        ("12h", 43200),
        ("30m", 1800),
        ("45s", 45),
        ("2w", 1209600),
        ("1.5h", 5400),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["365", "d", "-3d", "3 days", "3y", ""])
def test_a_duration_without_a_known_unit_is_refused_with_an_example(text):
    with pytest.raises(ValueError, match=r"e\.g\. 365d"):
        parse_duration(text)


def test_times_naive_iso_is_utc():
    assert to_epoch("1970-01-02") == 86400
    assert to_epoch(datetime(1970, 1, 2, tzinfo=UTC)) == 86400
    assert since_ago("1h", now=7200) == 3600
    with pytest.raises(ValueError, match="ISO 8601"):
        to_epoch("yesterday")
