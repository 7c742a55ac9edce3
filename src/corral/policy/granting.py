"""``grant()``: declared ∩ tier ceiling ∩ admin policy, minus denies, with reasons.

The result is always a subset of what the manifest declared. Each declared
permission is judged on its own and ends up kept, narrowed (``data:write`` at
a tier that allows only reads keeps ``data:read``), expanded (an unscoped
``file:read`` means the plugin's own directory and ``$WORK``, nothing wider) or
dropped; anything that is not kept as declared gets a reason in
``Grant.dropped``. Limits above the ceiling are clamped, not refused.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from corral.policy import paths
from corral.policy import scope as scopes
from corral.policy.admin import AdminPolicy, PluginRule
from corral.policy.grant import Grant
from corral.policy.model import Manifest
from corral.policy.permission import ADMIN, Permission, grants_action, implied_actions
from corral.policy.resources import clamp
from corral.policy.tiers import TierSpec, lowest, network_at_most

_EVERYTHING = {"network": "*:*", "subprocess": "/**", "env": "*"}
_EXAMPLE = {
    "network": "network:connect=api.example.com:443",
    "subprocess": "subprocess:execute=/usr/bin/git",
    "env": "env:read=TZ",
}


def grant(manifest: Manifest, policy: AdminPolicy, *, signature_tier: str = "community") -> Grant:
    """What ``manifest`` gets under ``policy`` when its signature proves ``signature_tier``."""
    rule = policy.rule(manifest.name)
    tier = lowest(manifest.tier, signature_tier, rule.tier or "enterprise")
    spec = policy.tier(tier)
    denies = _unique((*manifest.deny, *policy.deny, *rule.revoke))
    judge = _Judge(tier, spec, rule, policy, denies)
    kept: list[Permission] = []
    for declared in _unique(manifest.permissions):
        kept.extend(judge(declared))
    network = judge.network(manifest.network, kept)
    kept = [p for p in kept if p.domain != "network" or network in ("restricted", "full")]
    limits, clamped = clamp(manifest.limits, spec.limits, tier)
    return Grant(
        plugin=manifest.name,
        tier=tier,
        permissions=_unique(kept),
        denies=denies,
        limits=limits,
        network=network,
        isolation=rule.isolation or spec.isolation,
        dropped=tuple(judge.dropped),
        clamped=clamped,
        notes=(*_tier_notes(manifest.tier, tier, signature_tier, rule), *judge.notes),
        blocked_commands=policy.blocked_commands,
        allowed_extensions=policy.allowed_extensions,
        blocked_paths=policy.blocked_paths,
    )


def _unique(perms: Iterable[Permission]) -> tuple[Permission, ...]:
    return tuple(dict.fromkeys(perms))


def _tier_notes(asked: str, given: str, signature: str, rule: PluginRule) -> tuple[str, ...]:
    if asked == given:
        return ()
    why = [f"the signature proves {signature}"] if lowest(asked, signature) != asked else []
    if rule.tier and lowest(asked, rule.tier) != asked:
        why.append(f"the admin policy pins {rule.tier}")
    return (f"asked for the {asked} tier; granted {given} because {' and '.join(why)}",)


class _Judge:
    """Judges declared permissions one by one, collecting reasons as it goes."""

    def __init__(
        self,
        tier: str,
        spec: TierSpec,
        rule: PluginRule,
        policy: AdminPolicy,
        denies: tuple[Permission, ...],
    ) -> None:
        self.tier, self.spec, self.rule, self.policy, self.denies = tier, spec, rule, policy, denies
        self.dropped: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def __call__(self, p: Permission) -> list[Permission]:
        refusal = self._refusal(p)
        if refusal:
            self.dropped.append((str(p), refusal))
            return []
        widened = next((g for g in self.rule.grant if g.covers(p)), None)
        if widened is not None:
            self.notes.append(
                f"'{p}' kept beyond the {self.tier} tier by the admin grant '{widened}'"
            )
            return _expand_unscoped(p)
        reasons: list[str] = []
        kept = [q for n in self._narrow(p, reasons) for q in self._scoped(n, reasons)]
        if reasons:
            self.dropped.append((str(p), "; ".join(reasons)))
        return kept

    def _refusal(self, p: Permission) -> str:
        revoke = next((r for r in self.rule.revoke if r.covers(p)), None)
        if revoke is not None:
            return f"revoked for this plugin by the admin policy ('{revoke}')"
        blocked = set(self.policy.blocked_commands)
        if (
            p.domain == "subprocess"
            and p.scope
            and {p.scope, posixpath.basename(p.scope)} & blocked
        ):
            return f"'{p.scope}' is a blocked command in the admin policy"
        deny = next((d for d in self.denies if _fully_denied(p, d)), None)
        return f"denied by '{deny}'" if deny is not None else ""

    def _narrow(self, p: Permission, reasons: list[str]) -> list[Permission]:
        if self.spec.allows_action(p.domain, p.action):
            return [p]
        lesser = [
            a for a in implied_actions(p.domain, p.action)[1:]
            if a != ADMIN and self.spec.allows_action(p.domain, a)
        ]  # fmt: skip
        what = f"the {self.tier} tier does not allow {p.domain}:{p.action}"
        narrowed = ", ".join(f"{p.domain}:{a}" for a in lesser)
        reasons.append(f"{what}; narrowed to {narrowed}" if lesser else what)
        return [Permission(p.domain, a, p.scope) for a in lesser]

    def _scoped(self, p: Permission, reasons: list[str]) -> list[Permission]:
        if p.scope is None:
            if p.domain == "file":
                return _expand_unscoped(p)
            if p.domain not in _EVERYTHING:
                return [p]
            if self.spec.unscoped_wide:
                return _expand_unscoped(p)
            reasons.append(
                f"an unscoped {p.domain}:{p.action} would mean every target; the {self.tier} "
                f"tier needs a scope, e.g. {_EXAMPLE[p.domain]}"
            )
            return []
        problem = self._scope_problem(p, p.scope)
        if problem:
            reasons.append(problem)
            return []
        return [p]

    def _scope_problem(self, p: Permission, scope: str) -> str:
        tier = self.tier
        if p.domain == "file" and not self.spec.outside_paths and not paths.is_inside(scope):
            return f"the {tier} tier allows files only inside the plugin directory and $WORK"
        wild = scopes.is_wildcard(p.domain, scope)
        if p.domain == "network" and not self.spec.wildcard_hosts and wild:
            return f"the {tier} tier allows only exact host:port (no wildcards, ranges, blocks)"
        if p.domain == "subprocess" and not self.spec.exec_globs and wild:
            return f"the {tier} tier allows executables only by exact path"
        return ""

    def network(self, asked: str | None, kept: list[Permission]) -> str:
        """The network level: declared or derived, capped by the tier; cuts are noted."""
        has_grants = any(p.domain == "network" for p in kept)
        want = asked or ("restricted" if has_grants else "none")
        level = network_at_most(want, self.spec.network)
        if level != want:
            self.notes.append(f"network {want} asked; the {self.tier} tier allows at most {level}")
        if has_grants and level in ("none", "internal"):
            for p in kept:
                if p.domain == "network":
                    self.dropped.append((str(p), f"the network level is {level}"))
        return level


def _expand_unscoped(p: Permission) -> list[Permission]:
    """What an unscoped grant means once allowed: never a bare "match anything".

    Files: the plugin's directory and ``$WORK``. Network, processes and
    environment: every public host, every path, every name (``*:*`` still
    leaves private addresses to grants by address).
    """
    if p.scope is not None:
        return [p]
    if p.domain in _EVERYTHING:
        return [p.with_scope(_EVERYTHING[p.domain])]
    if p.domain != "file":
        return [p]
    if p.action == "read":
        return [p.with_scope("**"), p.with_scope(f"{paths.WORK}/**")]
    return [p.with_scope(f"{paths.WORK}/**")]


def _fully_denied(p: Permission, deny: Permission) -> bool:
    """Whether ``deny`` refuses every request ``p`` would allow."""
    return (
        p.domain == deny.domain
        and scopes.covers(p.domain, deny.scope, p.scope)
        and all(
            grants_action(p.domain, a, deny.action) for a in implied_actions(p.domain, p.action)
        )
    )
