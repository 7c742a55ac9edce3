"""Seed 001 (MachShop extensions): ``ExtensionSecurityManager`` and ``SandboxExecutor``.

The seed's security context is a record of what an extension was promised
(tier, permissions, limits, signature, review, vulnerability score). Here the
promise is judged against corral's own tier ceilings (DESIGN.md, "Tiers"),
and ``SandboxExecutor.execute_with_sandbox(fn)`` runs ``fn`` (a module-level
function of the extension) in a pen whose manifest is built from the
context, so the limits the context names are the limits the kernel applies,
clamped to the tier where they exceed it.
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import corral
from corral.audit import AuditEvent, AuditSink, MemorySink
from corral.compat import _staging
from corral.manifest.aliases import permission_text
from corral.policy import DEFAULT_TIERS, Grant, Permission
from corral.policy.decision import Request

MAX_VULNERABILITY_SCORE = 50
_REVIEWED_TIERS = ("professional", "enterprise")


class ExtensionTier(enum.StrEnum):
    COMMUNITY = "community"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


class SecurityLevel(enum.StrEnum):
    NONE = "NONE"
    INTERNAL = "INTERNAL"
    EXTERNAL = "EXTERNAL"


class IsolationLevel(enum.StrEnum):
    NONE = "NONE"
    PARTIAL = "PARTIAL"
    FULL = "FULL"


class ExtensionPermission(enum.StrEnum):
    """The seed's permission constants; ``.permission`` is corral's spelling of each."""

    READ_WORK_ORDERS = "READ_WORK_ORDERS"
    READ_MATERIALS = "READ_MATERIALS"
    READ_QUALITY_DATA = "READ_QUALITY_DATA"
    READ_EQUIPMENT_DATA = "READ_EQUIPMENT_DATA"
    READ_PRODUCTION_SCHEDULE = "READ_PRODUCTION_SCHEDULE"
    READ_PERSONNEL_DATA = "READ_PERSONNEL_DATA"
    WRITE_WORK_ORDERS = "WRITE_WORK_ORDERS"
    WRITE_QUALITY_DATA = "WRITE_QUALITY_DATA"
    WRITE_EQUIPMENT_DATA = "WRITE_EQUIPMENT_DATA"
    WRITE_PRODUCTION_SCHEDULE = "WRITE_PRODUCTION_SCHEDULE"
    DELETE_WORK_ORDERS = "DELETE_WORK_ORDERS"
    DELETE_QUALITY_DATA = "DELETE_QUALITY_DATA"
    SYSTEM_CONFIGURATION = "SYSTEM_CONFIGURATION"
    USER_MANAGEMENT = "USER_MANAGEMENT"
    AUDIT_LOG_ACCESS = "AUDIT_LOG_ACCESS"
    EXTERNAL_ERP_ACCESS = "EXTERNAL_ERP_ACCESS"
    EXTERNAL_API_CALLS = "EXTERNAL_API_CALLS"
    WEBHOOK_REGISTRATION = "WEBHOOK_REGISTRATION"
    FILE_UPLOAD = "FILE_UPLOAD"
    FILE_DOWNLOAD = "FILE_DOWNLOAD"
    NETWORK_ACCESS = "NETWORK_ACCESS"
    GENERATE_REPORTS = "GENERATE_REPORTS"
    ACCESS_ANALYTICS = "ACCESS_ANALYTICS"

    @property
    def permission(self) -> str:
        return _corral(self.value)


def _corral(name: str) -> str:
    text = permission_text(str(name))
    if text is None:
        raise ValueError(f"unknown extension permission {name!r}")
    return text


def _snake(name: str) -> str:
    """``memoryUsedMB`` -> ``memory_used_mb``; snake_case passes unchanged."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _values(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data``'s keys in Python spelling, refusing any ``cls`` does not have."""
    values = {_snake(str(k)): v for k, v in data.items()}
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}")
    return values


@dataclass
class ExtensionSecurityContext:
    """The seed's context, in Python spelling; ``from_dict`` also takes its camelCase keys."""

    extension_id: str
    extension_name: str = ""
    extension_version: str = "0.0.0"
    publisher_id: str = ""
    tier: ExtensionTier | str = ExtensionTier.COMMUNITY
    granted_permissions: list[ExtensionPermission | str] = field(default_factory=list)
    denied_permissions: list[ExtensionPermission | str] = field(default_factory=list)
    code_signature: str = ""
    code_signing_cert: Any = None
    integrity_hash: str = ""
    signature_verified: bool = False
    memory_limit: int = 256
    cpu_limit: int = 25
    disk_quota: int = 100
    timeout_ms: int = 30_000
    network_whitelist: list[str] = field(default_factory=list)
    file_access_paths: list[str] = field(default_factory=list)
    audit_level: SecurityLevel | str = SecurityLevel.NONE
    security_review_status: str = ""
    vulnerability_score: float = 0.0
    isolation_level: IsolationLevel | str = IsolationLevel.FULL
    created_at: Any = None
    updated_at: Any = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExtensionSecurityContext:
        return cls(**_values(cls, data))


@dataclass
class ResourceUsageRecord:
    extension_id: str
    timestamp: float = field(default_factory=time.time)
    memory_used_mb: float = 0.0
    cpu_percentage: float = 0.0
    disk_used_mb: float = 0.0
    network_bytes_out: int = 0
    network_bytes_in: int = 0
    execution_time_ms: float = 0.0
    request_count: int = 0
    error_count: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceUsageRecord:
        return cls(**_values(cls, data))


class ExtensionSecurityManager:
    """Registered contexts, judged against corral's tiers; every decision audited."""

    def __init__(self, *, audit: AuditSink | None = None) -> None:
        self.audit = audit or MemorySink()
        self._contexts: dict[str, ExtensionSecurityContext] = {}
        self._usage: dict[str, list[ResourceUsageRecord]] = {}

    def _record(self, kind: str, extension: str, decision: str, **details: Any) -> None:
        self.audit.write(
            AuditEvent(
                time.time(), kind, extension, decision, details={"compat": "seed001", **details}
            )
        )

    def register_extension(self, context: ExtensionSecurityContext | Mapping[str, Any]) -> None:
        ctx = (
            context
            if isinstance(context, ExtensionSecurityContext)
            else ExtensionSecurityContext.from_dict(context)
        )
        for name in (*ctx.granted_permissions, *ctx.denied_permissions):
            _corral(str(name))  # an unknown constant fails here, naming it
        self._contexts[ctx.extension_id] = ctx
        self._record(
            "state", ctx.extension_id, "info", action="extension.registered", tier=str(ctx.tier)
        )

    def context(self, extension_id: str) -> ExtensionSecurityContext:
        ctx = self._contexts.get(extension_id)
        if ctx is None:
            raise KeyError(f"extension {extension_id!r} is not registered")
        return ctx

    def enforce_security_context(self, extension_id: str) -> dict[str, Any]:
        """``{allowed, reason, violated_policies}`` for running this extension now."""
        ctx = self._contexts.get(extension_id)
        violated = ["extension not registered"] if ctx is None else _violations(ctx)
        allowed = not violated
        reason = "all security policies satisfied" if allowed else "; ".join(violated)
        self._record(
            "state",
            extension_id,
            "allow" if allowed else "deny",
            action="extension.enforce",
            violated_policies=violated,
        )
        return {"allowed": allowed, "reason": reason, "violated_policies": violated}

    def check_permission(self, extension_id: str, permission: ExtensionPermission | str) -> bool:
        ctx = self._contexts.get(extension_id)
        if ctx is None:
            return False
        want = Permission.parse(_corral(str(permission)))
        allowed = _grant(ctx).check(Request(want.domain, want.action, want.scope or "")).allowed
        if not allowed:
            self._record("denied", extension_id, "deny", permission=str(permission), layer="compat")
        return allowed

    def record_resource_usage(self, usage: ResourceUsageRecord | Mapping[str, Any]) -> list[str]:
        """Store one usage record; returns (and audits) the limits it breaks."""
        record = (
            usage
            if isinstance(usage, ResourceUsageRecord)
            else ResourceUsageRecord.from_dict(usage)
        )
        self._usage.setdefault(record.extension_id, []).append(record)
        ctx = self._contexts.get(record.extension_id)
        if ctx is None:
            return []
        breaches = [
            f"{what} {used:g} over {limit:g}"
            for what, used, limit in (
                ("memory MB", record.memory_used_mb, ctx.memory_limit),
                ("CPU %", record.cpu_percentage, ctx.cpu_limit),
                ("disk MB", record.disk_used_mb, ctx.disk_quota),
                ("execution ms", record.execution_time_ms, ctx.timeout_ms),
            )
            if used > limit
        ]
        for breach in breaches:
            self._record("limit.breached", record.extension_id, "deny", breach=breach)
        return breaches

    def get_resource_usage(self, extension_id: str) -> list[ResourceUsageRecord]:
        return list(self._usage.get(extension_id, []))


def _grant(ctx: ExtensionSecurityContext) -> Grant:
    granted = tuple(Permission.parse(_corral(str(p))) for p in ctx.granted_permissions)
    denied = tuple(Permission.parse(_corral(str(p))) for p in ctx.denied_permissions)
    return Grant(plugin=ctx.extension_id, tier=str(ctx.tier), permissions=granted, denies=denied)


def _violations(ctx: ExtensionSecurityContext) -> list[str]:
    """Each policy the context breaks, judged with corral's tier ceilings."""
    tier = str(ctx.tier)
    spec = DEFAULT_TIERS.get(tier)
    if spec is None:
        return [f"unknown tier {tier!r}"]
    out: list[str] = []
    for name in ctx.granted_permissions:
        perm = Permission.parse(_corral(str(name)))
        if not spec.allows_action(perm.domain, perm.action):
            out.append(f"permission {name} ({perm}) is not available to the {tier} tier")
    ceiling = spec.limits
    for label, asked, most in (
        ("memory_limit", ctx.memory_limit, ceiling.memory_mb),
        ("cpu_limit", ctx.cpu_limit, ceiling.cpu_percent),
        ("disk_quota", ctx.disk_quota, ceiling.disk_mb),
        ("timeout_ms", ctx.timeout_ms / 1000, ceiling.call_timeout_seconds),
    ):
        if asked > most:
            out.append(f"{label} {asked:g} exceeds the {tier} ceiling {most:g}")
    if spec.signature != "optional" and not ctx.signature_verified:
        out.append(f"the {tier} tier needs a verified signature ({spec.signature})")
    if tier in _REVIEWED_TIERS and str(ctx.security_review_status).upper() != "APPROVED":
        out.append(f"the {tier} tier needs an APPROVED security review")
    if ctx.vulnerability_score > MAX_VULNERABILITY_SCORE:
        out.append(
            f"vulnerability score {ctx.vulnerability_score:g} exceeds {MAX_VULNERABILITY_SCORE}"
        )
    if str(ctx.isolation_level).upper() == "NONE":
        out.append("isolation NONE runs no pen; corral runs extensions in one")
    return out


@dataclass
class SandboxConfig:
    isolation_level: IsolationLevel | str = IsolationLevel.FULL
    memory_limit_mb: int | None = None
    cpu_limit_percent: int | None = None
    disk_quota_mb: int | None = None
    timeout_ms: int | None = None
    allowed_domains: list[str] = field(default_factory=list)
    allowed_paths: list[str] = field(default_factory=list)
    block_system_access: bool = True
    enable_networking: bool = False
    enable_file_io: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SandboxConfig:
        return cls(**_values(cls, data))


class SandboxExecutor:
    """Runs an extension's functions in a pen built from its security context."""

    def __init__(
        self,
        extension_id: str,
        context: ExtensionSecurityContext | Mapping[str, Any],
        security_manager: ExtensionSecurityManager,
        config: SandboxConfig | Mapping[str, Any] | None = None,
        *,
        host: corral.Host | None = None,
    ) -> None:
        self.extension_id = extension_id
        self.context = (
            context
            if isinstance(context, ExtensionSecurityContext)
            else ExtensionSecurityContext.from_dict(context)
        )
        self.manager = security_manager
        self.config = (
            config if isinstance(config, SandboxConfig) else SandboxConfig.from_dict(config or {})
        )
        self._host = host
        self._last: ResourceUsageRecord | None = None

    @property
    def host(self) -> corral.Host:
        if self._host is None:
            self._host = corral.Host()
        return self._host

    def _manifest(self) -> dict[str, Any]:
        ctx, cfg = self.context, self.config
        timeout_ms = cfg.timeout_ms or ctx.timeout_ms
        permissions = [str(p) for p in ctx.granted_permissions]
        if cfg.enable_networking:
            permissions += [f"network:connect={d}:443" for d in cfg.allowed_domains]
        else:
            permissions = [p for p in permissions if not _corral(p).startswith("network:")]
        if cfg.enable_file_io:
            permissions += [f"file:read={p}" for p in cfg.allowed_paths]
        return {
            "name": _staging.manifest_name(ctx.extension_name or self.extension_id),
            "version": ctx.extension_version or "0.0.0",
            "tier": str(ctx.tier),
            "description": f"seed 001 extension {self.extension_id}",
            "permissions": permissions,
            "deny": [str(p) for p in ctx.denied_permissions],
            "limits": {
                "memory_mb": cfg.memory_limit_mb or ctx.memory_limit,
                "cpu_percent": cfg.cpu_limit_percent or ctx.cpu_limit,
                "disk_mb": cfg.disk_quota_mb or ctx.disk_quota,
                "call_timeout_seconds": timeout_ms / 1000,
            },
        }

    async def execute_with_sandbox(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Enforce the context, then run ``fn(*args, **kwargs)`` in a fresh pen."""
        return await asyncio.to_thread(self.execute_with_sandbox_sync, fn, *args, **kwargs)

    def execute_with_sandbox_sync(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        verdict = self.manager.enforce_security_context(self.extension_id)
        if not verdict["allowed"]:
            raise corral.PermissionDenied(
                f"extension {self.extension_id!r} may not run: {verdict['reason']}",
                layer="compat",
            )
        pen = _staging.Pen(self.host, self._manifest)
        start = time.monotonic()
        errors = 0
        try:
            return pen.call(fn, *args, **kwargs)
        except corral.CorralError:
            errors = 1
            raise
        finally:
            usage = pen.handle.last_usage if pen.handle is not None else None
            pen.close()
            self._last = ResourceUsageRecord(
                extension_id=self.extension_id,
                memory_used_mb=usage.peak_memory_mb if usage else 0.0,
                cpu_percentage=(
                    100 * usage.cpu_seconds / usage.wall_seconds
                    if usage and usage.wall_seconds
                    else 0.0
                ),
                execution_time_ms=(time.monotonic() - start) * 1000,
                request_count=1,
                error_count=errors,
            )
            self.manager.record_resource_usage(self._last)

    def get_resource_usage(self) -> ResourceUsageRecord:
        """The last execution's usage, measured from outside the pen (zeros before any)."""
        return self._last or ResourceUsageRecord(extension_id=self.extension_id)
