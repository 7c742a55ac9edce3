"""The vetting fixtures: a tree of rule examples whose flagged lines say which rules fire."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
BAD = PLUGINS / "fixtures" / "vetting_bad"
GOOD = PLUGINS / "good"
_EXPECT = re.compile(r"expect: ([A-Z0-9 ]+)")


def expected(path: Path) -> set[tuple[str, int, str]]:
    """``(file, line, rule)`` for every ``# expect: CRLnnn ...`` marker in ``path``."""
    out = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = _EXPECT.search(line)
        if match:
            out.update((path.name, number, rule) for rule in match.group(1).split())
    return out


@pytest.fixture
def bad() -> Path:
    return BAD


@pytest.fixture
def good() -> Path:
    return GOOD
