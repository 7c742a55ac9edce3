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

from corral.errors import HostError
from corral.runtime import HomeAdmin

VERBS = ("suspend", "resume", "disable", "enable")


class ActingAdmin(HomeAdmin):
    """``HomeAdmin`` on behalf of one logged-in dashboard administrator."""

    def __init__(self, home: str | os.PathLike[str], admin: str, audit: str | None = None) -> None:
        super().__init__(home, audit=audit)
        self.admin = admin

    def record(self, kind: str, plugin: str, decision: str, /, **details: Any) -> None:
        details["by"] = "dashboard"
        details["admin"] = self.admin
        super().record(kind, plugin, decision, **details)


def act(
    home: str | os.PathLike[str], admin: str, plugin: str, verb: str, audit: str | None = None
) -> str:
    """Apply ``verb`` to ``plugin``; return what happened, in words, for the page."""
    acting = ActingAdmin(home, admin, audit)
    try:
        if verb in VERBS:
            state = acting.change(plugin, verb, reason=f"dashboard {verb} by {admin}")
            return f"{plugin} is now {state}"
        if verb == "approve":
            version, permissions = acting.approve(plugin)
            granted = ", ".join(sorted(permissions)) or "no permissions"
            return f"approved {plugin} {version}: {granted}"
        if verb == "refuse":
            version, _ = acting.refuse(plugin, reason=f"dashboard refuse by {admin}")
            return f"refused {plugin} {version}"
    finally:
        acting.close()
    raise HostError(f"unknown action {verb!r}")
