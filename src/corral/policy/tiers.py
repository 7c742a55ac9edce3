"""Tiers (seed 001): what community, professional and enterprise plugins may get.

A tier is a ceiling, not a gift: a grant is what the plugin declared, cut down
to its tier. Each tier says which ``domain:action`` pairs it allows (patterns
with ``*``), how high each resource limit may go, the widest network level,
whether host wildcards, paths outside the plugin's own directories and
executable globs are allowed, whether unscoped network, process and
environment grants may stand (they would mean "everything"), the signature it
requires, the isolation level it runs under, and whether each version needs a
recorded security review before it runs (seed 001: professional and
enterprise, at least an internal review).

The numbers are DESIGN.md's (from seed 001); the limits it does not name are
corral's choices, documented next to ``_CEILINGS``. An admin policy file
may redefine any of it.
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from corral.policy.resources import ResourceLimits

TierName = Literal["community", "professional", "enterprise"]
NetworkLevel = Literal["none", "internal", "restricted", "full"]
Isolation = Literal["kernel", "container", "process"]
Signature = Literal["optional", "trusted-signer", "verified-publisher"]
ReviewLevel = Literal["internal", "external"]

REVIEW_LEVELS: tuple[str, ...] = ("internal", "external")
"""Seed 001's security review levels, weakest first: an external audit also counts
where an internal one is required (the seed's ``SecurityLevel.NONE`` is no review)."""

TIER_ORDER: tuple[str, ...] = ("community", "professional", "enterprise")
NETWORK_ORDER: tuple[str, ...] = ("none", "internal", "restricted", "full")


class TierSpec(BaseModel):
    """One tier's ceiling."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    permissions: tuple[str, ...] = Field(description="allowed domain:action patterns")
    limits: ResourceLimits
    network: NetworkLevel = "restricted"
    wildcard_hosts: bool = False
    outside_paths: bool = False
    exec_globs: bool = False
    unscoped_wide: bool = False
    signature: Signature = "optional"
    isolation: Isolation = "kernel"
    requires_review: bool = False
    review_level: ReviewLevel = "internal"

    def allows_action(self, domain: str, action: str) -> bool:
        """Whether ``domain:action`` is within this tier's permission patterns."""
        pair = f"{domain}:{action}"
        return any(fnmatch.fnmatchcase(pair, pattern) for pattern in self.permissions)


def lowest(*tiers: str) -> str:
    """The least trusted of several tier names (unknown names count as community)."""
    ranks = [TIER_ORDER.index(t) if t in TIER_ORDER else 0 for t in tiers]
    return TIER_ORDER[min(ranks)]


def network_at_most(level: str, ceiling: str) -> str:
    """``level`` lowered to ``ceiling`` when it is wider."""
    return min(level, ceiling, key=NETWORK_ORDER.index)


_COMMUNITY_ACTIONS = (
    "file:read", "file:write", "file:delete", "network:connect", "subprocess:execute",
    "env:read", "env:write", "hook:register", "config:read", "database:read",
    "*:read", "reports:generate",
)  # fmt: skip
_PROFESSIONAL_ACTIONS = (
    *_COMMUNITY_ACTIONS, "network:listen", "config:write", "database:write",
    "*:write", "*:delete", "*:register", "*:execute", "*:generate", "*:upload", "*:download",
)  # fmt: skip

# Limit ceilings per tier, one row each. memory_mb, cpu_percent, disk_mb and
# call_timeout_seconds are seed 001's; the rest are corral's, roomy enough for
# seed 003's defaults at community and growing with trust.
_CEILING_FIELDS = (
    "memory_mb", "cpu_percent", "disk_mb", "call_timeout_seconds", "cpu_seconds",
    "init_timeout_seconds", "hook_timeout_seconds", "processes", "open_files", "file_size_mb",
    "max_connections",
)  # fmt: skip
_CEILINGS = {
    "community": (256, 25, 100, 30.0, 300, 30.0, 5.0, 32, 256, 100, 16),
    "professional": (512, 50, 500, 120.0, 1200, 60.0, 10.0, 64, 1024, 500, 64),
    "enterprise": (2048, 100, 5120, 600.0, 3600, 120.0, 30.0, 256, 4096, 5120, 256),
}


def _ceiling(tier: str) -> ResourceLimits:
    return ResourceLimits.model_validate(dict(zip(_CEILING_FIELDS, _CEILINGS[tier], strict=True)))


DEFAULT_TIERS: dict[str, TierSpec] = {
    "community": TierSpec(permissions=_COMMUNITY_ACTIONS, limits=_ceiling("community")),
    "professional": TierSpec(
        permissions=_PROFESSIONAL_ACTIONS,
        limits=_ceiling("professional"),
        wildcard_hosts=True,
        outside_paths=True,
        exec_globs=True,
        signature="trusted-signer",
        requires_review=True,
    ),
    "enterprise": TierSpec(
        permissions=("*:*",),
        limits=_ceiling("enterprise"),
        network="full",
        wildcard_hosts=True,
        outside_paths=True,
        exec_globs=True,
        unscoped_wide=True,
        signature="verified-publisher",
        requires_review=True,
    ),
}
