"""The vetting fixtures: a tree of rule examples whose flagged lines say which rules fire."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corral.policy import AdminPolicy
from corral.policy.admin import RECOMMENDED_BLOCK

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
BAD = PLUGINS / "fixtures" / "vetting_bad"
GOOD = PLUGINS / "good"
_EXPECT = re.compile(r"expect: ([A-Z0-9 ]+)")


def blocking_policy() -> AdminPolicy:
    """The policy docs/administrators.md recommends: vetting blocks, where the default informs.

    High and critical findings block community plugins, critical ones the others, and
    a use of an undeclared permission blocks every tier.
    """
    return AdminPolicy.from_dict(
        {
            "vetting": {
                "block": RECOMMENDED_BLOCK,
                "block_undeclared": ["community", "professional", "enterprise"],
            }
        }
    )


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
