"""Errors that crossed the channel, raised again on the host as corral's own types.

The worker describes a failure as an ``ErrorInfo`` (type name, message,
permission, traceback); this module turns that back into the exception a
host application catches, so a kernel refusal and a guard refusal both reach
the caller as ``PermissionDenied``, a memory error as ``ResourceLimitExceeded``.
"""

from __future__ import annotations

from corral import errors
from corral.protocol import ErrorInfo


def raise_remote(plugin: str, err: ErrorInfo) -> None:
    """Re-raise an error that crossed the channel as the right corral exception."""
    if err.type == "PermissionDenied":
        raise errors.PermissionDenied(err.message, permission=err.permission, layer="guard")
    if err.type == "PluginValidationError":
        raise errors.PluginValidationError(plugin, err.message.split(": ", 1)[-1])
    if err.type == "SandboxUnavailable":
        layer, _, message = err.message.partition(": ")
        raise errors.SandboxUnavailable(layer, message)
    if err.type == "MemoryError":
        raise errors.ResourceLimitExceeded(
            f"{plugin}: memory limit (memory_mb) reached: {err.message}", limit="memory_mb"
        )
    refused = ("Operation not permitted", "Permission denied")
    if err.type in ("PermissionError", "OSError") and any(r in err.message for r in refused):
        raise errors.PermissionDenied(
            f"{err.message} (refused by the kernel)", layer="kernel", operation=err.type
        )
    raise errors.PluginFailed(
        f"{err.type}: {err.message}", remote_type=err.type, remote_traceback=err.traceback
    )
