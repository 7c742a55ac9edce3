"""Times and durations as the audit log's users write them: ``365d``, ``12h``, ISO dates.

Seed 001 keeps the audit log for 365 days; that is the default retention.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

Moment = float | datetime | str
"""A point in time: seconds since the epoch, a datetime, or an ISO 8601 string."""

DEFAULT_RETENTION = "365d"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """``"365d"`` -> seconds. Units: s, m, h, d, w; a bare number is refused as ambiguous."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"cannot read duration {text!r}: write a number and a unit, e.g. 365d, 12h, 30m, 45s"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def to_seconds(value: str | float | timedelta) -> float:
    """A duration given as text, seconds or a timedelta, in seconds (never negative)."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        seconds = parse_duration(value)
    else:
        seconds = float(value)
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative ({value!r})")
    return seconds


def to_epoch(value: Moment) -> float:
    """Seconds since the epoch for a number, a datetime (naive means UTC) or an ISO string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"cannot read time {value!r}: use ISO 8601, e.g. 2026-11-23 or 2026-11-23T12:00"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)


def since_ago(text: str, now: float) -> float:
    """``"2h"`` (a duration: that long before ``now``) or an ISO time, as epoch seconds."""
    if _DURATION.match(text):
        return now - parse_duration(text)
    return to_epoch(text)
