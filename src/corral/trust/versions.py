"""Semantic-version order, for telling an upgrade from a rollback.

Precedence as semver 2.0 defines it: numeric core, then a pre-release sorts
before its release, identifiers compared numerically when both are numbers;
build metadata is ignored.
"""

from __future__ import annotations

import re

_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")

Key = tuple[tuple[int, int, int], int, tuple[tuple[int, int, str], ...]]


def key(version: str) -> Key:
    match = _SEMVER.fullmatch(version)
    if match is None:
        return ((0, 0, 0), 0, ((1, 0, version),))
    core = (int(match[1]), int(match[2]), int(match[3]))
    if match[4] is None:
        return (core, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in match[4].split("."))
    return (core, 0, parts)


def older(candidate: str, installed: str) -> bool:
    """Whether ``candidate`` precedes ``installed``."""
    return key(candidate) < key(installed)
