"""Requests (concrete operations) and the decisions the policy core makes on them.

Both ends use these shapes: the host's host-function checks, and the guard
inside the pen, which turns a PEP 578 audit event into a :class:`Request`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """One concrete operation, e.g. ``Request("file", "read", "/etc/hosts")``.

    ``target`` is an absolute path for files and executables, ``host:port`` for
    network, a variable name for env, and empty for unscoped app permissions.
    """

    domain: str
    action: str
    target: str = ""

    def __str__(self) -> str:
        return f"{self.domain}:{self.action}" + (f" {self.target}" if self.target else "")


@dataclass(frozen=True)
class Decision:
    """The answer to a :class:`Request`.

    ``rule`` is the permission that allowed it, or, when denied, the permission
    that *would* allow it (``file:read=/etc/hosts``), so every denial tells the
    plugin author which manifest line to add. ``reason`` is a sentence.
    """

    allowed: bool
    reason: str
    rule: str = ""
