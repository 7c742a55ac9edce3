"""Permissions: the ``domain:action[=scope]`` grammar and its hierarchy.

Built-in domains have a fixed set of actions because corral itself enforces
them (files, network, processes, environment, hooks) or hosts commonly check
them (config, database). Any other ``domain:action`` is app-defined: corral
carries it and the host's own functions check it. A domain one letter away
from a built-in one (``fiel``) is refused as a typo rather than accepted as an
app domain nobody meant to invent.

The hierarchy (seed 000): ``write`` implies ``read`` within a domain and
scope, ``admin`` implies every action of its domain. For files, ``write`` also
implies ``delete``, because a writable ``$WORK`` must let SQLite and log
rotation remove their own files (DESIGN.md). Denial follows the same rule
read backwards: whoever may not read may not write either.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from corral.policy import scope as scopes
from corral.policy.errors import PermissionSyntaxError

BUILTIN: dict[str, tuple[str, ...]] = {
    "file": ("read", "write", "delete"),
    "network": ("connect", "listen"),
    "subprocess": ("execute",),
    "env": ("read", "write"),
    "hook": ("register",),
    "config": ("read", "write"),
    "database": ("read", "write"),
}
ADMIN = "admin"
_WORD = re.compile(r"[a-z][a-z0-9_]*")
_TYPO_CUTOFF = 0.75


def grants_action(domain: str, held: str, wanted: str) -> bool:
    """Whether holding action ``held`` in ``domain`` gives action ``wanted`` too."""
    if held in (wanted, ADMIN):
        return True
    if held == "write":
        return wanted == "read" or (domain == "file" and wanted == "delete")
    return False


def implied_actions(domain: str, action: str) -> tuple[str, ...]:
    """Every action ``action`` gives in ``domain``, itself first (for narrowing)."""
    known = (*BUILTIN.get(domain, ("read", "write")), ADMIN)
    return (action, *(a for a in known if a != action and grants_action(domain, action, a)))


def _suggest(word: str, options: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=_TYPO_CUTOFF)
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclass(frozen=True)
class Permission:
    """One permission, canonical when built: ``Permission("file", "read", "data/**")``."""

    domain: str
    action: str
    scope: str | None = None

    def __post_init__(self) -> None:
        text = _spell(self.domain, self.action, self.scope)
        for part, value in (("domain", self.domain), ("action", self.action)):
            if not _WORD.fullmatch(value):
                raise PermissionSyntaxError(
                    text, f"{part} {value!r} must be lower-case letters, digits or _"
                )
        self._check_names(text)
        if self.scope is not None:
            try:
                canonical = scopes.canonical(self.domain, self.scope)
            except ValueError as exc:
                raise PermissionSyntaxError(text, str(exc)) from None
            object.__setattr__(self, "scope", canonical)

    def _check_names(self, text: str) -> None:
        actions = BUILTIN.get(self.domain)
        if actions is None:
            hint = _suggest(self.domain, list(BUILTIN))
            if hint:
                raise PermissionSyntaxError(text, f"unknown domain '{self.domain}'{hint}")
        elif self.action not in (*actions, ADMIN):
            raise PermissionSyntaxError(
                text,
                f"unknown action '{self.action}' for domain '{self.domain}'"
                + (_suggest(self.action, actions) or f" (it takes {', '.join(actions)}, admin)"),
            )

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Read ``domain:action[=scope]``; ``PermissionSyntaxError`` says what is wrong."""
        if not isinstance(text, str):
            raise PermissionSyntaxError(str(text), "a permission is text like 'file:read=data/**'")
        head, eq, scope = text.strip().partition("=")
        domain, colon, action = head.strip().partition(":")
        if not colon or not domain or not action:
            raise PermissionSyntaxError(text, f"expected 'domain:action[=scope]', got {text!r}")
        if eq and not scope.strip():
            raise PermissionSyntaxError(text, f"empty scope after '=' in {text!r}")
        return cls(domain.lower(), action.lower(), scope.strip() if eq else None)

    @property
    def builtin(self) -> bool:
        """Whether corral enforces this domain itself (else the host's functions do)."""
        return self.domain in BUILTIN

    def grants(self, action: str) -> bool:
        """Whether this permission gives ``action`` in its own domain."""
        return grants_action(self.domain, self.action, action)

    def covers(self, other: Permission) -> bool:
        """Whether everything ``other`` allows is allowed by this one (conservatively)."""
        return (
            self.domain == other.domain
            and self.grants(other.action)
            and scopes.covers(self.domain, self.scope, other.scope)
        )

    def with_scope(self, scope: str | None) -> Permission:
        return Permission(self.domain, self.action, scope)

    def __str__(self) -> str:
        return _spell(self.domain, self.action, self.scope)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_plain_validator_function(
            _coerce, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )


def _spell(domain: str, action: str, scope: str | None) -> str:
    return f"{domain}:{action}" + (f"={scope}" if scope is not None else "")


def _coerce(value: Any) -> Permission:
    if isinstance(value, Permission):
        return value
    if isinstance(value, str):
        return Permission.parse(value)
    raise ValueError(f"expected a permission like 'file:read=data/**', got {type(value).__name__}")
