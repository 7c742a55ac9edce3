"""The dashboard's state changes, done through ``HomeAdmin`` and signed with the admin's name.

``HomeAdmin`` records every change as an audit event carrying the
operating-system user; from a web console that user is the server's, which
says nothing. :class:`ActingAdmin` is the same ``HomeAdmin`` whose records
also name the dashboard administrator who clicked, so the log answers "who
suspended this plugin" with a person.
"""

from __future__ import annotations

import os
from typing import Any

from corral.audit import AuditSink, open_store
from corral.errors import HostError
from corral.runtime import HomeAdmin

VERBS = ("suspend", "resume", "disable", "enable")


class ActingAdmin(HomeAdmin):
    """``HomeAdmin`` on behalf of one logged-in dashboard administrator."""

    def __init__(self, home: str | os.PathLike[str], admin: str, audit: str | None = None) -> None:
        super().__init__(home)
        self.admin = admin
        self.audit = audit

    def _store(self) -> AuditSink:
        """The store the dashboard reads (``--audit``), so its own actions show up there."""
        return open_store(self.audit) if self.audit else super()._store()

    def record(self, kind: str, plugin: str, decision: str, /, **details: Any) -> None:
        details["by"] = "dashboard"
        details["admin"] = self.admin
        super().record(kind, plugin, decision, **details)


def act(
    home: str | os.PathLike[str], admin: str, plugin: str, verb: str, audit: str | None = None
) -> str:
    """Apply ``verb`` to ``plugin``; return what happened, in words, for the page."""
    acting = ActingAdmin(home, admin, audit)
    if verb in VERBS:
        state = acting.change(plugin, verb, reason=f"dashboard {verb} by {admin}")
        return f"{plugin} is now {state}"
    if verb == "approve":
        version, permissions = acting.approve(plugin)
        return f"approved {plugin} {version}: {', '.join(sorted(permissions)) or 'no permissions'}"
    if verb == "refuse":
        return refuse(acting, plugin)
    raise HostError(f"unknown action {verb!r}")


def refuse(acting: ActingAdmin, plugin: str) -> str:
    """Refuse the pending request: ``HomeAdmin.refuse`` where it exists, else a recorded refusal.

    Without ``HomeAdmin.refuse`` the request stays pending (the lifecycle
    store has no way to drop it from outside yet): the plugin keeps running
    with its approved permissions, as it does while the request waits, and the
    refusal is on record with the admin's name.
    """
    pending = acting.store.pending(plugin)
    if pending is None:
        raise HostError(f"plugin {plugin!r} has no request awaiting approval")
    native = getattr(acting, "refuse", None)
    if callable(native):
        native(plugin)
        return f"refused {plugin} {pending.version}"
    acting.record(
        "plugin.state",
        plugin,
        "deny",
        state="refused",
        version=pending.version,
        permissions=sorted(pending.permissions),
    )
    return f"refused {plugin} {pending.version} (recorded; the request stays listed)"
