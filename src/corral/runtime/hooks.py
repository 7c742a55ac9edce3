"""Hook points: places in the host where every registered plugin gets a say.

The host declares a hook point; a plugin marks a handler with
``@corral.hook("name")`` and the worker reports it in ``Ready``. Whether the
handler is registered is decided here, on the host side, from the grant
(``hook:register=name``): the worker's report comes over a channel the plugin
controls, so it is a claim, never a permission. A handler for a point the
host never declared is refused too, so a plugin cannot invent an entry point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral.errors import CorralError
from corral.policy import Grant
from corral.policy.decision import Request

MAX_HANDLERS = 256
Audit = Callable[..., None]
"""``audit(decision, **details)``: writes one "hook.registered" record for a plugin."""


@dataclass(frozen=True)
class HookResult:
    """One plugin's answer to one ``run_hook``: its value, or the error that stopped it."""

    plugin: str
    ok: bool
    value: Any = None
    error: CorralError | None = None
    duration: float = 0.0


class HookRegistry:
    """Declared hook points, and each plugin's accepted handlers."""

    def __init__(self) -> None:
        self._points: set[str] = set()
        self._handlers: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def declare(self, name: str) -> None:
        if not name or not name.strip() or "=" in name:
            raise ValueError(f"a hook point needs a name without '=', got {name!r}")
        with self._lock:
            self._points.add(name)

    def declared(self, name: str) -> bool:
        with self._lock:
            return name in self._points

    def known(self, plugin: str) -> bool:
        with self._lock:
            return plugin in self._handlers

    def register(self, plugin: str, grant: Grant, reported: dict[str, str], audit: Audit) -> None:
        """Accept each reported handler that is declared and granted; audit every decision.

        The report is the plugin's: past ``MAX_HANDLERS`` it is refused whole in one
        record, so a forged ``Ready`` cannot turn into a flood of audit records.
        """
        accepted: dict[str, str] = {}
        if len(reported) > MAX_HANDLERS:
            audit("deny", handlers=len(reported), reason=f"more than {MAX_HANDLERS} hook handlers")
            reported = {}
        for hook, callable_name in sorted(reported.items()):
            needs = f"hook:register={hook}"
            if not self.declared(hook):
                audit("deny", hook=hook, handler=callable_name, reason="no such hook point")
                continue
            if not grant.check(Request("hook", "register", hook)).allowed:
                audit(
                    "deny",
                    hook=hook,
                    handler=callable_name,
                    permission=needs,
                    reason=f"needs {needs} in plugin.yaml",
                )
                continue
            accepted[hook] = callable_name
            audit("allow", hook=hook, handler=callable_name, permission=needs)
        with self._lock:
            self._handlers[plugin] = accepted

    def handler(self, plugin: str, hook: str) -> str | None:
        """The callable of ``plugin`` that handles ``hook``, if it was accepted."""
        with self._lock:
            return self._handlers.get(plugin, {}).get(hook)

    def forget(self, plugin: str) -> None:
        with self._lock:
            self._handlers.pop(plugin, None)
