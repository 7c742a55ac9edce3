"""Seed spellings of permissions, read into corral's own grant and checked by it.

The seeds name permissions their own way (``data:write``, ``system:files``,
``network:external``, ``READ_WORK_ORDERS``, ``file:read``). Every adapter
reads them through the manifest's alias table, so a seed spelling means in
the compat layer exactly what it means in a plugin.yaml, and asks
``Grant.check`` (the same hierarchy the guard uses: ``write`` implies
``read``, ``admin`` implies every action of its domain).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from corral.errors import PermissionDenied
from corral.manifest.aliases import SYSTEM_ACCESS, permission_text
from corral.policy import Grant, Permission
from corral.policy.decision import Decision, Request

NETWORK_LEVELS = {"internal": "internal", "external": "full"}
"""Seed 000's ``network_access`` actions held by host code: its own network, or any."""


@dataclass(frozen=True)
class Required:
    """One permission a caller must hold, in corral's terms."""

    text: str
    requests: tuple[Request, ...] = ()
    network: str = ""

    def decide(self, grant: Grant) -> Decision:
        """Whether ``grant`` holds this, with the rule it would need when it does not."""
        if self.network:
            allowed = grant.network in _AT_LEAST[self.network]
            reason = f"network level is {grant.network}; {self.text} needs {self.network} or wider"
            return Decision(allowed, reason if not allowed else f"network level {grant.network}")
        for request in self.requests:
            decision = grant.check(request)
            if not decision.allowed:
                return Decision(False, decision.reason, self.text)
        return Decision(True, f"granted ({self.text})", self.text)


_AT_LEAST = {
    "internal": ("internal", "restricted", "full"),
    "restricted": ("restricted", "full"),
}


def canonical(text: str) -> list[str]:
    """``text`` in corral's spelling, seed 000's ``system:*`` groups expanded."""
    spelled = permission_text(str(text))
    if spelled is None:
        raise ValueError(f"unknown permission {text!r}")
    domain, _, action = spelled.partition(":")
    if domain == "system" and action == "admin":
        return [spelled, *(p for group in SYSTEM_ACCESS.values() for p in group)]
    if domain == "system" and action in SYSTEM_ACCESS:
        return list(SYSTEM_ACCESS[action])
    return [spelled]


def required(text: str) -> Required:
    """What holding ``text`` means, as requests a grant can answer."""
    head = permission_text(str(text)) or str(text)
    domain, _, action = head.partition(":")
    if domain in ("network", "network_access") and action in NETWORK_LEVELS:
        return Required(str(text), network="internal" if action == "internal" else "restricted")
    perms = [Permission.parse(p) for p in canonical(text)]
    return Required(str(text), tuple(Request(p.domain, p.action, p.scope or "") for p in perms))


def grant_of(name: str, permissions: Iterable[str], tier: str = "community") -> Grant:
    """A grant holding exactly ``permissions`` (seed spellings accepted), for host-side checks."""
    held: list[Permission] = []
    network = "none"
    for text in permissions:
        head = permission_text(str(text)) or str(text)
        domain, _, action = head.partition(":")
        if domain in ("network", "network_access") and action in NETWORK_LEVELS:
            level = NETWORK_LEVELS[action]
            network = level if network in ("none", "internal") else network
            continue
        held.extend(Permission.parse(p) for p in canonical(text))
    if network == "none" and any(p.domain == "network" and p.scope for p in held):
        network = "restricted"  # as in a manifest: named hosts mean the restricted level
    return Grant(plugin=name, tier=tier, permissions=tuple(held), network=network)


def denied(who: str, need: Required, decision: Decision) -> PermissionDenied:
    """The error a refused decorator or context raises, naming the permission."""
    return PermissionDenied(
        f"{who} needs {need.text}: {decision.reason}", permission=need.text, layer="compat"
    )
