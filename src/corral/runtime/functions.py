"""Host functions: what a plugin may call back into, each behind a permission.

The permission is checked on the host side against the grant, because the
request arrives over a channel the plugin controls; the plugin's own copy of
its grant is never asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corral.policy import Grant
from corral.policy.decision import Request
from corral.protocol import ErrorInfo, HostCall, Result

Audit = Callable[[str, str], None]


class HostFunctions:
    """The registry of functions a host exposes, and their dispatch."""

    def __init__(self) -> None:
        self._functions: dict[str, tuple[Callable[..., Any], str]] = {}

    def register(
        self, name: str, *, requires: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator registering ``fn`` as ``name``, callable with ``requires`` granted."""

        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._functions[name] = (fn, requires)
            return fn

        return add

    def dispatch(self, grant: Grant, message: HostCall, audit: Audit) -> Result:
        """Check the grant, run the function, and answer; every decision is audited."""
        entry = self._functions.get(message.name)
        if entry is None:
            return _error(message, "AttributeError", f"no host function {message.name!r}")
        fn, requires = entry
        domain, _, action = requires.partition(":")
        allowed = grant.check(Request(domain, action)).allowed
        audit("allow" if allowed else "deny", requires)
        if not allowed:
            text = (
                f"host function {message.name!r} needs {requires} "
                "(add it to permissions in plugin.yaml)"
            )
            return _error(message, "PermissionDenied", text, permission=requires)
        try:
            return Result(id=message.id, ok=True, value=fn(*message.args, **message.kwargs))
        except Exception as exc:  # the host function's failure is the plugin's answer
            return _error(message, type(exc).__name__, str(exc)[:2000])


def _error(message: HostCall, type_: str, text: str, permission: str = "") -> Result:
    info = ErrorInfo(type=type_, message=text, permission=permission)
    return Result(id=message.id, ok=False, error=info)
