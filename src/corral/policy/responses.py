"""What the administrator wants done when a plugin misbehaves, and how closely to watch it.

Pure data (the ``responses:`` and ``monitoring:`` sections of ``policy.yaml``).
Each violation type has a ladder of rules, ``{after: N, within_seconds: W,
action: A}``: when a violation arrives, the rule with the highest ``after``
that the count of that type within its window has reached is the one applied.
One violation therefore gets exactly one response, which is what lets an
administrator (and a load test) predict the audit log from the policy alone.

The defaults are DESIGN.md's "Response defaults": a denial is worth a warning
but five in a minute is a pattern; a resource breach is throttled, then killed;
a timeout replaces the worker and three in five minutes suspend the plugin; a
crash restarts with a doubling backoff and five in ten minutes disable it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ViolationType = Literal["permission", "resource", "network", "filesystem", "timeout", "crash"]
VIOLATION_TYPES: tuple[ViolationType, ...] = (
    "permission",
    "resource",
    "network",
    "filesystem",
    "timeout",
    "crash",
)
Action = Literal["warn", "throttle", "suspend", "kill", "restart", "restart_stricter", "disable"]
ACTIONS: tuple[Action, ...] = (
    "warn",
    "throttle",
    "kill",
    "restart",
    "restart_stricter",
    "suspend",
    "disable",
)
"""Every action, mildest first; a tie between rules goes to the more severe."""


class ResponseRule(BaseModel):
    """Apply ``action`` once ``after`` violations of one type fall within ``within_seconds``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    after: int = Field(default=1, ge=1, le=1_000_000)
    within_seconds: float = Field(default=60.0, gt=0, le=31_536_000)


def _rules(*spec: tuple[Action, int, float]) -> tuple[ResponseRule, ...]:
    return tuple(ResponseRule(action=a, after=n, within_seconds=w) for a, n, w in spec)


_DENIAL = _rules(("warn", 1, 60), ("suspend", 5, 60))


class Ladders(BaseModel):
    """One ladder of rules per violation type (a per-plugin override names only some)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    permission: tuple[ResponseRule, ...] | None = None
    filesystem: tuple[ResponseRule, ...] | None = None
    network: tuple[ResponseRule, ...] | None = None
    resource: tuple[ResponseRule, ...] | None = None
    timeout: tuple[ResponseRule, ...] | None = None
    crash: tuple[ResponseRule, ...] | None = None


DEFAULT_LADDERS: dict[ViolationType, tuple[ResponseRule, ...]] = {
    "permission": _DENIAL,
    "filesystem": _DENIAL,
    "network": _DENIAL,
    "resource": _rules(("warn", 1, 60), ("throttle", 3, 60), ("kill", 5, 60)),
    "timeout": _rules(("kill", 1, 300), ("suspend", 3, 300)),
    "crash": _rules(("restart", 1, 600), ("disable", 5, 600)),
}


class ResponsesPolicy(BaseModel):
    """The ``responses:`` section: ladders, their factors, and per-plugin overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    permission: tuple[ResponseRule, ...] = DEFAULT_LADDERS["permission"]
    filesystem: tuple[ResponseRule, ...] = DEFAULT_LADDERS["filesystem"]
    network: tuple[ResponseRule, ...] = DEFAULT_LADDERS["network"]
    resource: tuple[ResponseRule, ...] = DEFAULT_LADDERS["resource"]
    timeout: tuple[ResponseRule, ...] = DEFAULT_LADDERS["timeout"]
    crash: tuple[ResponseRule, ...] = DEFAULT_LADDERS["crash"]
    throttle_factor: float = Field(default=0.5, gt=0, lt=1, description="CPU quota multiplier")
    stricter_factor: float = Field(default=0.5, gt=0, lt=1, description="limits multiplier")
    backoff_initial_seconds: float = Field(default=1.0, ge=0, le=3600)
    backoff_max_seconds: float = Field(default=60.0, ge=0, le=86_400)
    plugins: dict[str, Ladders] = Field(default_factory=dict)

    def ladder(self, plugin: str, kind: ViolationType) -> tuple[ResponseRule, ...]:
        """The rules for ``kind`` violations of ``plugin``: its override, else the default."""
        override = self.plugins.get(plugin)
        mine = getattr(override, kind) if override is not None else None
        return mine if mine is not None else tuple(getattr(self, kind))

    def choose(
        self, plugin: str, kind: ViolationType, count_within: dict[float, int]
    ) -> ResponseRule | None:
        """The rule to apply, given how many violations fell within each rule's window.

        ``count_within`` maps a window length to the count inside it (the
        caller counts; this stays pure).
        """
        best: ResponseRule | None = None
        for rule in self.ladder(plugin, kind):
            if count_within.get(rule.within_seconds, 0) < rule.after:
                continue
            if best is None or (rule.after, ACTIONS.index(rule.action)) > (
                best.after,
                ACTIONS.index(best.action),
            ):
                best = rule
        return best

    def backoff(self, restarts: int) -> float:
        """Seconds to wait before the ``restarts``-th restart: doubling, capped."""
        if restarts <= 0:
            return 0.0
        delay = self.backoff_initial_seconds * 2 ** min(restarts - 1, 30)
        return float(min(delay, self.backoff_max_seconds))


class MonitoringPolicy(BaseModel):
    """The ``monitoring:`` section: how often to sample, how much history, when to warn."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    history: int = Field(default=300, ge=1, le=100_000)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
