"""The manifest as a frozen value: what a plugin declares about itself.

This is the validated shape only. Reading ``plugin.yaml`` or ``plugin.json``,
bounding its size, mapping seed spellings to canonical permissions and
pointing errors at lines is ``corral.manifest``'s job; keeping the model here
lets ``grant()`` take a ``Manifest`` without the policy core touching files.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from corral.policy.permission import Permission
from corral.policy.resources import ResourceLimits
from corral.policy.tiers import NetworkLevel, TierName

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ENTRY = re.compile(rf"{_IDENT}(\.{_IDENT})*(:{_IDENT})?")


def _one_of(value: Any, options: tuple[str, ...], what: str) -> Any:
    if isinstance(value, str) and value not in options:
        close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"'{value}' is not a {what} ({', '.join(options)}){hint}")
    return value


class Manifest(BaseModel):
    """A plugin's declaration: identity, entry point, tier asked, permissions, limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: StrictStr
    version: StrictStr
    entry: StrictStr
    description: StrictStr = ""
    author: StrictStr = ""
    tier: TierName = "community"
    permissions: tuple[Permission, ...] = ()
    deny: tuple[Permission, ...] = ()
    limits: ResourceLimits = Field(default_factory=ResourceLimits)
    network: NetworkLevel | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a plugin name: lower-case letters, digits and dashes, "
                "starting with a letter or digit, at most 64 characters"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not SEMVER.fullmatch(value):
            raise ValueError(f"'{value}' is not a semantic version like 1.2.0")
        return value

    @field_validator("entry")
    @classmethod
    def _entry(cls, value: str) -> str:
        if not ENTRY.fullmatch(value):
            raise ValueError(
                f"'{value}' is not an entry point: 'module:Attribute' or 'module' "
                "(Python identifiers, module relative to the plugin directory)"
            )
        return value

    @field_validator("tier", mode="before")
    @classmethod
    def _tier(cls, value: Any) -> Any:
        return _one_of(value, get_args(TierName), "tier")

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, value: Any) -> Any:
        return _one_of(value, get_args(NetworkLevel), "network level")

    @property
    def entry_module(self) -> str:
        """The module part of ``entry``, imported from the plugin directory."""
        return self.entry.partition(":")[0]

    @property
    def entry_attr(self) -> str:
        """The attribute part of ``entry``; empty for a module of ``@export`` functions."""
        return self.entry.partition(":")[2]
