"""Seed 004 (Docker sandboxes): ``SecurityPolicy`` and ``SandboxManager``'s checks and report.

The seed's policy becomes corral's own: its command, extension and path rules
are an ``AdminPolicy`` (the same rules the guard applies inside every pen), its
resource limits become the tier ceilings a plugin's limits are clamped to,
and its network policy is the pen's network level. ``validate_command_execution``
and ``validate_file_operation`` answer with the grant of the sandbox's plugin
under those rules; refusals are audited and counted, and at
``violation_threshold`` the sandbox's pen is shut down (the seed's
"automatic termination").

What is not here: the container backend itself and continuous monitoring
belong to their own issues. A sandbox created without a plugin has no pen;
its checks use the policy alone.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import shlex
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import corral
from corral.policy import AdminPolicy, Grant, Permission
from corral.policy.decision import Request
from corral.policy.tiers import DEFAULT_TIERS, TIER_ORDER, network_at_most


class NetworkPolicy(enum.StrEnum):
    """The seed's four levels; the values are corral's network levels."""

    NONE = "none"
    INTERNAL = "internal"
    RESTRICTED = "restricted"
    FULL = "full"


class SecurityViolationType(enum.StrEnum):
    COMMAND_BLOCKED = "command_blocked"
    FILE_ACCESS_DENIED = "file_access_denied"
    RESOURCE_LIMIT = "resource_limit"
    NETWORK_VIOLATION = "network_violation"


@dataclass(frozen=True)
class ResourceLimits:
    memory_mb: int = 512
    cpu_percent: float = 50.0
    max_processes: int = 10
    max_connections: int = 10
    max_open_files: int = 256

    def as_limits(self) -> dict[str, int]:
        """As corral's limit names; the manifest counts CPU in whole percent."""
        return {
            "memory_mb": self.memory_mb,
            "cpu_percent": math.ceil(self.cpu_percent),
            "processes": self.max_processes,
            "open_files": self.max_open_files,
            "max_connections": self.max_connections,
        }


@dataclass(frozen=True)
class SecurityPolicy:
    resource_limits: ResourceLimits = field(default_factory=ResourceLimits)
    network_policy: NetworkPolicy = NetworkPolicy.NONE
    allowed_commands: frozenset[str] | set[str] = frozenset()
    blocked_commands: frozenset[str] | set[str] = frozenset()
    allowed_file_extensions: frozenset[str] | set[str] = frozenset()
    blocked_file_patterns: frozenset[str] | set[str] = frozenset()
    enable_monitoring: bool = True
    violation_threshold: int = 3
    allowed_hosts: frozenset[str] | set[str] = frozenset()
    blocked_hosts: frozenset[str] | set[str] = frozenset()

    def admin_policy(self) -> AdminPolicy:
        """The rules as corral's admin policy: every tier's ceiling held to these limits.

        ``network_policy`` becomes every tier's widest network level and each
        blocked host a policy-wide ``deny: network:connect=HOST:*``, so the
        host's grant drops it and the proxy refuses it whatever the plugin
        asks for. ``allowed_hosts`` has no policy form: a restricted pen
        already reaches only the hosts its own grant names, and
        ``validate_network_access`` holds them to this list.
        """
        limits = self.resource_limits.as_limits()
        return AdminPolicy.from_dict(
            {
                "blocked_commands": sorted(self.blocked_commands),
                "allowed_extensions": sorted(self.allowed_file_extensions),
                "blocked_paths": sorted(self.blocked_file_patterns),
                "deny": [f"network:connect={_host_only(h)}:*" for h in sorted(self.blocked_hosts)],
                "tiers": {
                    tier: {
                        "limits": limits,
                        "network": network_at_most(
                            DEFAULT_TIERS[tier].network, str(self.network_policy)
                        ),
                    }
                    for tier in TIER_ORDER
                },
            }
        )


def _host_only(host: str) -> str:
    """``host`` without a port: the seed lists hosts, corral scopes are ``host:port``."""
    if host.startswith("["):
        return host.split("]", maxsplit=1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class SecurityViolation:
    sandbox_id: str
    violation_type: SecurityViolationType
    description: str
    timestamp: float = field(default_factory=time.time)
    severity: str = "medium"


@dataclass
class _Sandbox:
    id: str
    handle: corral.PluginHandle | None = None
    violations: list[SecurityViolation] = field(default_factory=list)
    terminated: bool = False


class SandboxManager:
    """Sandboxes under one ``SecurityPolicy``; each may hold a plugin in a pen."""

    def __init__(
        self, security_policy: SecurityPolicy | None = None, *, host: corral.Host | None = None
    ) -> None:
        self.security_policy = security_policy or SecurityPolicy()
        self._admin = self.security_policy.admin_policy()
        self._host = host
        self._sandboxes: dict[str, _Sandbox] = {}
        self._lock = threading.Lock()

    @property
    def host(self) -> corral.Host:
        """The host pens run under; one created here enforces this policy's rules."""
        if self._host is None:
            self._host = corral.Host(policy=self._admin)
        return self._host

    async def create_sandbox(self, plugin_dir: str | os.PathLike[str] | None = None) -> str:
        """A new sandbox id; with ``plugin_dir``, the plugin is loaded into a pen for it."""
        sandbox = _Sandbox(id=f"sandbox-{uuid.uuid4().hex[:12]}")
        if plugin_dir is not None:
            sandbox.handle = self.host.load(Path(plugin_dir))
        with self._lock:
            self._sandboxes[sandbox.id] = sandbox
        return sandbox.id

    def plugin(self, sandbox_id: str) -> corral.PluginHandle | None:
        return self._get(sandbox_id).handle

    async def validate_command_execution(self, sandbox_id: str, command: str) -> bool:
        """Whether ``command`` may run here: allow list, block list, then the plugin's grant."""
        sandbox = self._get(sandbox_id)
        argv = shlex.split(command)
        if not argv:
            return self._refuse(sandbox, SecurityViolationType.COMMAND_BLOCKED, "empty command")
        program = argv[0]
        path = shutil.which(program) or program
        allowed = self.security_policy.allowed_commands
        if allowed and program not in allowed and os.path.basename(path) not in allowed:
            return self._refuse(
                sandbox,
                SecurityViolationType.COMMAND_BLOCKED,
                f"{program!r} is not in the allowed commands",
            )
        decision = self._grant(sandbox).check(Request("subprocess", "execute", path))
        if not decision.allowed:
            return self._refuse(sandbox, SecurityViolationType.COMMAND_BLOCKED, decision.reason)
        return True

    async def validate_file_operation(
        self, sandbox_id: str, path: str | os.PathLike[str], operation: str = "read"
    ) -> bool:
        """Whether ``operation`` (read, write, delete) on ``path`` is allowed here."""
        sandbox = self._get(sandbox_id)
        if operation not in ("read", "write", "delete"):
            raise ValueError(f"operation must be read, write or delete, not {operation!r}")
        target = os.path.realpath(os.fspath(path))
        decision = self._grant(sandbox).check(Request("file", operation, target))
        if not decision.allowed:
            return self._refuse(sandbox, SecurityViolationType.FILE_ACCESS_DENIED, decision.reason)
        return True

    validate_file_access = validate_file_operation

    async def validate_network_access(self, sandbox_id: str, host: str, port: int = 443) -> bool:
        """Whether a connection to ``host:port`` is allowed here.

        The policy's level first (``NONE`` refuses all; ``INTERNAL`` only the
        pen's own loopback), then ``blocked_hosts``, then ``allowed_hosts``
        when the list is not empty, then the plugin's grant. What the pen
        enforces is the grant under this policy (see ``admin_policy``).
        """
        sandbox = self._get(sandbox_id)
        policy = self.security_policy
        level = str(policy.network_policy)
        local = host in ("localhost", "127.0.0.1", "::1")
        kind = SecurityViolationType.NETWORK_VIOLATION
        if level == "none" or (level == "internal" and not local):
            return self._refuse(sandbox, kind, f"network policy {level} refuses {host}:{port}")
        if host in policy.blocked_hosts:
            return self._refuse(sandbox, kind, f"{host} is a blocked host")
        if policy.allowed_hosts and host not in policy.allowed_hosts:
            return self._refuse(sandbox, kind, f"{host} is not in the allowed hosts")
        if level == "internal" or sandbox.handle is None:
            return True
        decision = self._grant(sandbox).check(Request("network", "connect", f"{host}:{port}"))
        if not decision.allowed:
            return self._refuse(sandbox, kind, decision.reason)
        return True

    async def get_security_report(self, sandbox_id: str) -> dict[str, Any]:
        """Policy, violations, whether the sandbox was terminated, and its plugin's usage."""
        sandbox = self._get(sandbox_id)
        handle = sandbox.handle
        usage = handle.last_usage.to_dict() if handle and handle.last_usage else {}
        policy = self.security_policy
        return {
            "sandbox_id": sandbox.id,
            "plugin": handle.name if handle else None,
            "network_policy": str(policy.network_policy),
            "resource_limits": asdict(policy.resource_limits),
            "violations": [asdict(v) for v in sandbox.violations],
            "violation_count": len(sandbox.violations),
            "violation_threshold": policy.violation_threshold,
            "terminated": sandbox.terminated,
            "usage": usage,
        }

    async def destroy_sandbox(self, sandbox_id: str) -> None:
        with self._lock:
            sandbox = self._sandboxes.pop(sandbox_id, None)
        if sandbox is not None and sandbox.handle is not None:
            sandbox.handle.close()

    async def cleanup(self) -> None:
        for sandbox_id in list(self._sandboxes):
            await self.destroy_sandbox(sandbox_id)

    # --- internals ----------------------------------------------------------------

    def _get(self, sandbox_id: str) -> _Sandbox:
        with self._lock:
            sandbox = self._sandboxes.get(sandbox_id)
        if sandbox is None:
            raise KeyError(f"no sandbox {sandbox_id!r}")
        return sandbox

    def _grant(self, sandbox: _Sandbox) -> Grant:
        """The plugin's grant under this policy's rules; the policy alone without a plugin."""
        admin = self._admin
        if sandbox.handle is not None:
            granted: Grant = sandbox.handle.grant
            return dataclasses.replace(
                granted,
                blocked_commands=admin.blocked_commands,
                allowed_extensions=admin.allowed_extensions,
                blocked_paths=admin.blocked_paths,
            )
        anything = tuple(
            Permission.parse(p) for p in ("file:write", "file:delete", "subprocess:execute")
        )
        return Grant(
            plugin=sandbox.id,
            tier="enterprise",
            permissions=anything,
            network=str(self.security_policy.network_policy),
            blocked_commands=admin.blocked_commands,
            allowed_extensions=admin.allowed_extensions,
            blocked_paths=admin.blocked_paths,
        )

    def _refuse(self, sandbox: _Sandbox, kind: SecurityViolationType, reason: str) -> bool:
        violation = SecurityViolation(sandbox.id, kind, reason)
        sandbox.violations.append(violation)
        name = sandbox.handle.name if sandbox.handle else sandbox.id
        if self._host is not None:  # without a host (no plugin yet) the report keeps it
            self._host.record(
                "denied", name, "deny", layer="compat", violation=str(kind), reason=reason
            )
        policy = self.security_policy
        over = len(sandbox.violations) >= policy.violation_threshold
        if policy.enable_monitoring and over and not sandbox.terminated:
            sandbox.terminated = True
            if sandbox.handle is not None:
                sandbox.handle.close()
                self.host.record(
                    "worker.killed", name, "deny", reason="seed 004 violation threshold reached"
                )
        return False
