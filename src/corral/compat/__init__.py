"""The seeds' APIs as thin adapters over the core API, one module per seed.

Teams coming from the designs in ``shared/seeds`` keep their spellings; the
work is done by corral's own grant, pens, audit log and host. Names that two
seeds both use (``PluginSandbox``, ``ResourceMonitor``) are reached through
their seed's module: ``corral.compat.seed002.PluginSandbox``,
``corral.compat.seed003.PluginSandbox``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "SecurityContext": "seed000",
    "HttpResponse": "seed000",
    "check_permission": "seed000",
    "secure_http_request": "seed000",
    "audit_log": "seed000",
    "rate_limit": "seed000",
    "require_permission": "seed000",
    "require_permissions": "seed000",
    "security_monitor": "seed000",
    "validate_network_access": "seed000",
    "set_audit_sink": "seed000",
    "ExtensionPermission": "seed001",
    "ExtensionSecurityContext": "seed001",
    "ExtensionSecurityManager": "seed001",
    "ExtensionTier": "seed001",
    "IsolationLevel": "seed001",
    "ResourceUsageRecord": "seed001",
    "SandboxConfig": "seed001",
    "SandboxExecutor": "seed001",
    "SecurityLevel": "seed001",
    "AuditLog": "seed002",
    "PluginCapability": "seed002",
    "SandboxFactory": "seed002",
    "SandboxedPluginExecutor": "seed002",
    "create_sandboxed_executor": "seed002",
    "UnsafeInProcessWarning": "seed002",
    "FileSizeError": "seed003",
    "PermissionDeniedError": "seed003",
    "PermissionManager": "seed003",
    "PluginLoader": "seed003",
    "PluginMetadata": "seed003",
    "PluginPermission": "seed003",
    "PluginTimeoutError": "seed003",
    "PluginType": "seed003",
    "ResourceUsage": "seed003",
    "ValidationResult": "seed003",
    "NetworkPolicy": "seed004",
    "ResourceLimits": "seed004",
    "SandboxManager": "seed004",
    "SecurityPolicy": "seed004",
    "SecurityViolation": "seed004",
    "SecurityViolationType": "seed004",
}

__all__ = [*sorted(_EXPORTS)]  # noqa: PLE0604


def __getattr__(name: str) -> Any:
    """Resolve lazily, so a plugin importing the decorators does not load the host's side."""
    module = _EXPORTS.get(name)
    if module is None:
        if name in ("seed000", "seed001", "seed002", "seed003", "seed004"):
            return importlib.import_module(f"corral.compat.{name}")
        raise AttributeError(f"module 'corral.compat' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"corral.compat.{module}"), name)
    globals()[name] = value
    return value
