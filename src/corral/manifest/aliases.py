"""Seed spellings, normalised to corral's canonical manifest before validation.

Accepted as aliases, so each seed's manifests load unchanged:

- seed 003's enum values (``network:request`` -> ``network:connect``) and
  enum names (``FILE_READ``, ``NETWORK_REQUEST``);
- seed 002's dotted capability names (``filesystem.read``, ``network.http``,
  ``system.subprocess``, ``environment.read``), also as
  ``{name: filesystem.write, options: {path: /tmp/out}}``;
- seed 001's constants (``READ_WORK_ORDERS`` -> ``work_orders:read``);
- seed 000's nested JSON (``{"data_access": ["read", "write"],
  "network_access": ["external"]}``) and its ``resources`` block;
- the ``max_*`` limit names of seeds 000, 002 and 004.

Every normalised location remembers where it came from, so an error in an
expanded alias still points at the line the author wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.manifest.source import Path
from corral.policy.permission import BUILTIN

HEADS = {
    "network:request": "network:connect",
    "filesystem:read": "file:read",
    "filesystem:write": "file:write",
    "filesystem:delete": "file:delete",
    "network:socket": "network:connect",
    "network:http": "network:connect",
    "system:subprocess": "subprocess:execute",
    "environment:read": "env:read",
    "environment:write": "env:write",
}
SEED001 = {
    "SYSTEM_CONFIGURATION": "config:write",
    "USER_MANAGEMENT": "users:admin",
    "AUDIT_LOG_ACCESS": "audit_log:read",
    "EXTERNAL_ERP_ACCESS": "erp:connect",
    "EXTERNAL_API_CALLS": "network:connect",
    "NETWORK_ACCESS": "network:connect",
    "WEBHOOK_REGISTRATION": "webhooks:register",
    "FILE_UPLOAD": "file_transfer:upload",
    "FILE_DOWNLOAD": "file_transfer:download",
    "GENERATE_REPORTS": "reports:generate",
    "ACCESS_ANALYTICS": "analytics:read",
}
SYSTEM_ACCESS = {"files": ("file:read", "file:write"), "network": ("network:connect",)}
LIMITS = {
    "max_memory_mb": "memory_mb",
    "max_cpu_percent": "cpu_percent",
    "max_disk_mb": "disk_mb",
    "max_cpu_seconds": "cpu_seconds",
    "max_wall_time_seconds": "call_timeout_seconds",
    "max_processes": "processes",
    "max_open_files": "open_files",
}
_SKIP = object()
_CONSTANT = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")


@dataclass
class Normalised:
    """Canonical-shaped data, where each new path came from, and what could not be read."""

    data: dict[str, Any]
    origins: dict[Path, Path] = field(default_factory=dict)
    issues: list[tuple[Path, str]] = field(default_factory=list)
    seed_network: str | None = None

    def origin(self, loc: Path) -> Path:
        """The source path of normalised ``loc`` (its longest mapped prefix, rest kept)."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.origins:
                return (*self.origins[loc[:end]], *loc[end:])
        return loc


def permission_text(text: str) -> str | None:
    """A seed spelling in canonical ``domain:action[=scope]`` form (None: no such alias)."""
    text = text.strip()
    if _CONSTANT.fullmatch(text):
        return _constant(text)
    head, eq, scope = text.partition("=")
    head = head.strip().lower()
    if ":" not in head and "." in head:
        head = head.replace(".", ":", 1)
    return HEADS.get(head, head) + (eq + scope)


def _constant(name: str) -> str | None:
    if name in SEED001:
        return SEED001[name]
    domain, _, action = name.lower().partition("_")
    flipped = f"{domain}:{action}"
    if domain in BUILTIN:
        return HEADS.get(flipped, flipped)
    verb, _, noun = name.lower().partition("_")
    return f"{noun}:{verb}" if verb in ("read", "write", "delete") else None


def normalise(data: Mapping[str, Any]) -> Normalised:
    """Map seed spellings in a parsed manifest to canonical keys and permission strings."""
    out = Normalised(dict(data))
    if "resources" in out.data and "limits" not in out.data:
        out.data["limits"] = out.data.pop("resources")
        out.origins[("limits",)] = ("resources",)
    _limits(out)
    for key in ("permissions", "deny"):
        if key in out.data:
            out.data[key] = _permissions(out, key, out.data[key])
    if out.seed_network and "network" not in out.data:
        out.data["network"] = out.seed_network
        out.origins[("network",)] = ("permissions", "network_access")
    return out


def _limits(out: Normalised) -> None:
    limits = out.data.get("limits")
    if not isinstance(limits, Mapping):
        return
    source = out.origin(("limits",))
    renamed: dict[str, Any] = {}
    for key, value in limits.items():
        name = LIMITS.get(str(key), str(key))
        renamed[name] = value
        out.origins[("limits", name)] = (*source, key)
    out.data["limits"] = renamed


def _permissions(out: Normalised, key: str, value: Any) -> Any:
    if isinstance(value, Mapping) and key == "permissions":
        return _nested(out, value)
    if not isinstance(value, list):
        return value
    result: list[Any] = []
    for index, item in enumerate(value):
        text = _item(out, (key, index), item)
        if text is not _SKIP:
            out.origins[(key, len(result))] = (key, index)
            result.append(text)
    return result


def _item(out: Normalised, where: Path, item: Any) -> Any:
    if isinstance(item, Mapping) and isinstance(item.get("name"), str):
        options = item.get("options")
        scope = item.get("scope", options.get("path") if isinstance(options, Mapping) else None)
        item = item["name"] + (f"={scope}" if isinstance(scope, str) else "")
    if not isinstance(item, str):
        return item  # validation reports the type, at this location
    text = permission_text(item)
    if text is None:
        out.issues.append((where, f"unknown permission constant '{item}'"))
        return _SKIP
    return text


def _nested(out: Normalised, groups: Mapping[str, Any]) -> list[str]:
    """Seed 000's ``{"data_access": ["read"], ...}`` as a flat permission list."""
    result: list[str] = []
    for group, actions in groups.items():
        items = [actions] if isinstance(actions, str) else actions
        if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
            out.issues.append((("permissions", group), "expected a list of action names"))
            continue
        domain = group.removesuffix("_access")
        for index, action in enumerate(items):
            where: Path = ("permissions", group, index)
            for text in _expand_nested(out, domain, action):
                out.origins[("permissions", len(result))] = where
                result.append(text)
    return result


def _expand_nested(out: Normalised, domain: str, action: str) -> tuple[str, ...]:
    if domain == "network" and action in ("internal", "external"):
        if out.seed_network != "restricted":  # external implies internal (seed 000)
            out.seed_network = "restricted" if action == "external" else "internal"
        return ()
    if domain == "system":
        return SYSTEM_ACCESS.get(action, (f"system:{action}",))
    return (f"{domain}:{action}",)
