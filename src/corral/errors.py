"""One exception tree for corral, split by whose fault an error is.

A caller decides what to do by the branch an error sits on, not by parsing
messages: a ``PluginError`` means the plugin misbehaved (keep the host
running, maybe suspend the plugin); a ``TrustError`` means the package must not
run at all; a ``HostError`` means the host was misused or this machine cannot
enforce what policy asks (fix configuration, never fall back silently).

This module sits at the bottom layer and imports nothing of corral's, so the
worker inside the pen can raise the very same types the host catches.
"""

from __future__ import annotations

from dataclasses import dataclass


class CorralError(Exception):
    """Root of every error corral raises on purpose."""

    def diagnostics(self) -> str:
        """A human-readable explanation; subclasses add what a person needs to act."""
        return str(self)


# --- the plugin misbehaved -------------------------------------------------


class PluginError(CorralError):
    """The plugin did something it must not, or failed on its own."""


class PermissionDenied(PluginError, PermissionError):
    """An operation outside the grant.

    Also a built-in ``PermissionError`` so that ordinary libraries running
    inside a plugin handle it exactly as they handle an OS-level EACCES.
    """

    def __init__(
        self,
        message: str,
        *,
        permission: str = "",
        operation: str = "",
        target: str = "",
        layer: str = "guard",
    ) -> None:
        super().__init__(message)
        self.permission = permission
        self.operation = operation
        self.target = target
        self.layer = layer

    def __reduce__(self) -> tuple[object, ...]:
        state = (str(self), self.permission, self.operation, self.target, self.layer)
        return (_rebuild_denied, state)


def _rebuild_denied(
    message: str, permission: str, operation: str, target: str, layer: str
) -> PermissionDenied:
    return PermissionDenied(
        message, permission=permission, operation=operation, target=target, layer=layer
    )


class PluginTimeout(PluginError, TimeoutError):
    """A call, init or hook ran past its time limit; the worker was replaced."""

    def __init__(self, message: str, *, limit: str = "", seconds: float = 0.0) -> None:
        super().__init__(message)
        self.limit = limit
        self.seconds = seconds


class ResourceLimitExceeded(PluginError):
    """A resource limit (memory, processes, file size, disk, CPU) was breached."""

    def __init__(self, message: str, *, limit: str = "", value: float | int = 0) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value


class PluginCrashed(PluginError):
    """The worker died without answering: a signal, an abort, a hard exit."""

    def __init__(self, message: str, *, exit_code: int | None = None, signal: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.signal = signal


class PluginFailed(PluginError):
    """The plugin's own code raised; the original type and traceback text travel along."""

    def __init__(self, message: str, *, remote_type: str = "", remote_traceback: str = ""):
        super().__init__(message)
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback

    def diagnostics(self) -> str:
        return f"{self}\n{self.remote_traceback}".rstrip()


class PluginSuspended(PluginError):
    """The plugin is suspended or disabled; no new calls are accepted."""


# --- the package is not trusted ---------------------------------------------


class TrustError(CorralError):
    """The plugin package must not run: its bytes or its code are not trusted."""


class SignatureError(TrustError):
    """A signature is missing, invalid, expired, revoked, or from an unlisted key."""


class VettingError(TrustError):
    """Static vetting found something that policy says blocks loading."""


# --- the host was misused or cannot enforce ---------------------------------


class HostError(CorralError):
    """The host application or its configuration is at fault."""


@dataclass(frozen=True)
class ManifestIssue:
    """One problem in a manifest, located well enough to fix it without guessing."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}{field} {self.message}"


class ManifestError(HostError):
    """A manifest (plugin.yaml / plugin.json) is invalid; every issue is listed."""

    def __init__(self, issues: list[ManifestIssue] | tuple[ManifestIssue, ...]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues) or "invalid manifest")


class PolicyError(HostError):
    """An admin policy file is invalid or contradicts itself."""


class PluginValidationError(HostError):
    """The plugin does not match its declared contract (entry point, base class)."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin!r}: {message}")
        self.plugin = plugin


class SandboxUnavailable(HostError):
    """A confinement layer that policy requires cannot be applied on this machine."""

    def __init__(self, layer: str, message: str) -> None:
        super().__init__(f"{layer}: {message}")
        self.layer = layer


class AuditError(HostError):
    """The audit store cannot be opened or written, or a chain cannot be pruned safely.

    Raised to the caller of a write that was not acknowledged: an event that
    cannot be recorded is never dropped silently.
    """


class ProtocolError(HostError):
    """A peer sent bytes that do not follow the IPC protocol (too large, malformed)."""
