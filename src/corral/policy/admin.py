"""The administrator's policy: tiers redefined, denies added, plugins pinned.

``corral-policy.yaml`` (``policy.yaml`` under ``CORRAL_HOME``) is read by
``corral.manifest.load_policy``; this module only validates the parsed data.
Other subsystems keep their own sections in the same file (audit, responses,
keys), so unknown top-level keys are kept in ``model_extra`` rather than
refused, except those that look like a typo of one of ours.

Per-plugin ``grant`` entries widen that plugin's ceiling: a declared
permission they cover stands even where its tier would cut it. They never add
a permission the plugin did not declare, so the grant stays a subset of what
the author asked for. ``revoke`` entries drop what they cover and deny the
rest, like a ``deny`` for that plugin alone.

The ``vetting`` section says which finding severities block loading in each
tier and holds the host-side suppressions (the plugin author is not trusted
to suppress anything in source); ``vulnerabilities`` sets the highest
vulnerability score a plugin may have and which report severities disable it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corral.policy import paths
from corral.policy.errors import PolicyFileError, field_path
from corral.policy.permission import Permission
from corral.policy.responses import MonitoringPolicy, ResponsesPolicy
from corral.policy.tiers import DEFAULT_TIERS, TIER_ORDER, Isolation, TierName, TierSpec


class PluginRule(BaseModel):
    """What the administrator says about one plugin by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: TierName | None = None
    grant: tuple[Permission, ...] = ()
    revoke: tuple[Permission, ...] = ()
    isolation: Isolation | None = None


Severity = Literal["low", "medium", "high", "critical"]
Confidence = Literal["low", "medium", "high"]
_RULE_ID = re.compile(r"[A-Z]{1,4}\d{3,4}")
# A careful default: untrusted community code may not load with a high or
# critical finding; vouched-for tiers are stopped only by critical ones.
# Vetting is informational by default (issue 6: "blocking by policy"): the kernel
# pen is the barrier, and a rule that misfires must not lock out a working plugin
# until an administrator has chosen to trust the rules that much. RECOMMENDED_BLOCK
# is what docs/administrators.md suggests turning on.
DEFAULT_BLOCK: dict[TierName, tuple[Severity, ...]] = {
    "community": (),
    "professional": (),
    "enterprise": (),
}
RECOMMENDED_BLOCK: dict[TierName, tuple[Severity, ...]] = {
    "community": ("high", "critical"),
    "professional": ("critical",),
    "enterprise": ("critical",),
}


class Suppression(BaseModel):
    """One host-side suppression: a rule silenced for one plugin, narrowed as far as wanted.

    ``plugin`` and ``rule`` are required so that no entry silences a rule
    everywhere; ``version``, ``digest`` and ``fingerprint`` default to ``*``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    plugin: str
    rule: str
    version: str = "*"
    digest: str = "*"
    fingerprint: str = "*"
    reason: str = ""

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str) -> str:
        if not _RULE_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a rule id like CRL101 (or bandit's B602)")
        return value

    def matches(self, plugin: str, version: str, digest: str, rule: str, fp: str) -> bool:
        """Whether this entry silences finding ``fp`` of ``rule`` in that plugin build."""
        return (
            self.plugin == plugin
            and self.rule == rule
            and self.version in ("*", version)
            and self.digest in ("*", digest)
            and self.fingerprint in ("*", fp)
        )


class VettingPolicy(BaseModel):
    """What static vetting findings do to loading, per tier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    block: dict[TierName, tuple[Severity, ...]] = Field(default_factory=lambda: dict(DEFAULT_BLOCK))
    block_confidence: Confidence = "medium"
    block_undeclared: tuple[TierName, ...] = ()
    suppressions: tuple[Suppression, ...] = ()

    @field_validator("block", mode="before")
    @classmethod
    def _merge_block(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {**DEFAULT_BLOCK, **value}
        return value

    def blocks(self, tier: str) -> tuple[str, ...]:
        """The severities that block loading in ``tier`` (community's for an unknown tier)."""
        for name, severities in self.block.items():
            if name == tier:
                return severities
        return self.block["community"]

    def suppressed(self, plugin: str, version: str, digest: str, rule: str, fp: str) -> bool:
        return any(s.matches(plugin, version, digest, rule, fp) for s in self.suppressions)


_FIX_DEADLINES: dict[Severity, float] = {"critical": 7.0}


class VulnerabilityPolicy(BaseModel):
    """Seed 001's vulnerability management: score ceiling, responses per severity, the cycle.

    ``disable_on`` severities disable the affected versions until a fixed one
    is installed; ``review_on`` severities make the affected version need a
    security review recorded after the report; ``warn_on`` severities are a
    warning event at each check. ``fix_deadline_days`` tracks a remediation
    deadline from the report's date (seed 001: critical fixes within 7 days),
    and ``check_interval_days`` is how often installed plugins are re-vetted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_score: int = Field(default=50, ge=0, le=100)
    disable_on: tuple[Severity, ...] = ("critical",)
    review_on: tuple[Severity, ...] = ("high",)
    warn_on: tuple[Severity, ...] = ("medium",)
    fix_deadline_days: dict[Severity, float] = Field(default_factory=lambda: dict(_FIX_DEADLINES))
    check_interval_days: float = Field(default=30.0, gt=0)

    @field_validator("fix_deadline_days")
    @classmethod
    def _positive(cls, value: dict[Severity, float]) -> dict[Severity, float]:
        for severity, days in value.items():
            if days <= 0:
                raise ValueError(f"the {severity} fix deadline must be more than 0 days")
        return value


class ContainerEngine(BaseModel):
    """Which engine runs the workers the policy puts in containers (the ``container:`` section).

    A tier or plugin rule says *that* a plugin runs in a container; this says
    *where*, so an operator can move a fleet from Docker to Podman (or to another
    OCI runtime, such as gVisor's ``runsc``) in the policy file, without touching
    the application that embeds the host. A host given a ``ContainerConfig`` in
    code uses that instead.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Literal["docker", "podman"] = "docker"
    socket: str = ""
    image: str = ""
    runtime: str | None = None


class AdminPolicy(BaseModel):
    """Tiers, global denies, per-plugin rules and seed 004's command and path rules."""

    model_config = ConfigDict(frozen=True, extra="allow")

    tiers: dict[str, TierSpec] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    deny: tuple[Permission, ...] = ()
    plugins: dict[str, PluginRule] = Field(default_factory=dict)
    blocked_commands: tuple[str, ...] = ()
    allowed_extensions: tuple[str, ...] = ()
    blocked_paths: tuple[str, ...] = ()
    vetting: VettingPolicy = Field(default_factory=VettingPolicy)
    vulnerabilities: VulnerabilityPolicy = Field(default_factory=VulnerabilityPolicy)
    responses: ResponsesPolicy = Field(default_factory=ResponsesPolicy)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)
    container: ContainerEngine | None = None

    @model_validator(mode="before")
    @classmethod
    def _typos(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            ours = list(cls.model_fields)
            for key in data:
                close = difflib.get_close_matches(str(key), ours, n=1, cutoff=0.8)
                if key not in ours and close:
                    raise ValueError(f"unknown section '{key}'; did you mean '{close[0]}'?")
        return data

    @field_validator("tiers", mode="before")
    @classmethod
    def _merge_tiers(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = dict(DEFAULT_TIERS)
        for name, spec in value.items():
            if name not in TIER_ORDER:
                raise ValueError(f"unknown tier '{name}'; tiers are {', '.join(TIER_ORDER)}")
            merged[name] = _merge(DEFAULT_TIERS[name], spec)
        return merged

    @field_validator("allowed_extensions")
    @classmethod
    def _extensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple("." + ext.lower().lstrip(".") for ext in value)

    @field_validator("blocked_paths")
    @classmethod
    def _blocked_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(paths.canonical_path(p) for p in value)

    @field_validator("blocked_commands")
    @classmethod
    def _commands(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for command in value:
            if not command or any(ch.isspace() for ch in command):
                raise ValueError(f"blocked command {command!r} must be a name or a path")
        return value

    @property
    def denies(self) -> tuple[Permission, ...]:
        """The global denies (the file spells the section ``deny``, like a manifest)."""
        return self.deny

    def tier(self, name: str) -> TierSpec:
        """The spec of tier ``name`` (community for an unknown name: fail closed)."""
        return self.tiers.get(name) or self.tiers["community"]

    def rule(self, plugin: str) -> PluginRule:
        """The rule for ``plugin``; an empty rule when the policy names it nowhere."""
        return self.plugins.get(plugin) or PluginRule()

    @classmethod
    def from_dict(cls, data: Any) -> AdminPolicy:
        """Validate a parsed policy document; ``PolicyFileError`` lists every problem."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise PolicyFileError([("", "a policy file must be a mapping of sections")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PolicyFileError([_issue(err) for err in exc.errors()]) from None


def _merge(base: TierSpec, override: Any) -> Any:
    if not isinstance(override, Mapping):
        return override
    merged = base.model_dump()
    for key, value in override.items():
        if key == "limits" and isinstance(value, Mapping):
            merged["limits"] = {**merged["limits"], **value}
        else:
            merged[key] = value
    return merged


def _issue(err: Any) -> tuple[str, str]:
    error = (err.get("ctx") or {}).get("error")
    message = str(error) if error is not None else str(err["msg"]).lower()
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    return field_path(err["loc"]), message


def default_policy() -> AdminPolicy:
    """The policy in force when an administrator has written none."""
    return AdminPolicy()
