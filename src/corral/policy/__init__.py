"""The pure policy core: permissions, tiers, grants, decisions, enforcement plans.

No I/O and no clock reads happen here, and nothing else of corral's is
imported, so every decision is a function of its inputs and testable alone.
"""

from corral.policy.admin import (
    AdminPolicy,
    PluginRule,
    Suppression,
    VettingPolicy,
    VulnerabilityPolicy,
    default_policy,
)
from corral.policy.decision import Decision, Request
from corral.policy.errors import PermissionSyntaxError, PolicyFileError
from corral.policy.grant import Grant
from corral.policy.granting import grant
from corral.policy.model import Manifest
from corral.policy.permission import BUILTIN, Permission
from corral.policy.resources import ResourceLimits
from corral.policy.responses import (
    VIOLATION_TYPES,
    MonitoringPolicy,
    ResponseRule,
    ResponsesPolicy,
)
from corral.policy.tiers import DEFAULT_TIERS, TIER_ORDER, TierSpec

__all__ = [
    "BUILTIN",
    "DEFAULT_TIERS",
    "TIER_ORDER",
    "VIOLATION_TYPES",
    "AdminPolicy",
    "Decision",
    "Grant",
    "Manifest",
    "MonitoringPolicy",
    "Permission",
    "PermissionSyntaxError",
    "PluginRule",
    "PolicyFileError",
    "Request",
    "ResourceLimits",
    "ResponseRule",
    "ResponsesPolicy",
    "Suppression",
    "TierSpec",
    "VettingPolicy",
    "VulnerabilityPolicy",
    "default_policy",
    "grant",
]
