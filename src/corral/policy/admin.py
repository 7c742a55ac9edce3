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
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

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


class AdminPolicy(BaseModel):
    """Tiers, global denies, per-plugin rules and seed 004's command and path rules."""

    model_config = ConfigDict(frozen=True, extra="allow")

    tiers: dict[str, TierSpec] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    deny: tuple[Permission, ...] = ()
    plugins: dict[str, PluginRule] = Field(default_factory=dict)
    blocked_commands: tuple[str, ...] = ()
    allowed_extensions: tuple[str, ...] = ()
    blocked_paths: tuple[str, ...] = ()
    responses: ResponsesPolicy = Field(default_factory=ResponsesPolicy)
    monitoring: MonitoringPolicy = Field(default_factory=MonitoringPolicy)

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
