"""The plugin side of corral: what a plugin author imports inside the pen.

This module is deliberately tiny and imports nothing heavy, because a
plugin's ``import corral`` runs inside the pen and must not drag host code
(SQLite stores, the CLI) into it.

A plugin is either a class deriving :class:`Plugin` (its public methods are
the callables) or a module whose functions are marked :func:`export`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

EXPORT_ATTR = "__corral_export__"
HOOK_ATTR = "__corral_hook__"


class Plugin:
    """Base class for class-style plugins.

    ``setup`` runs once per worker under the init timeout, ``teardown`` at
    unload. Every public method (no leading underscore) other than those two
    is a callable the host may invoke.
    """

    def setup(self) -> None:
        """Prepare state that lives across calls in this worker."""

    def teardown(self) -> None:
        """Release what ``setup`` acquired; called when the worker unloads."""


def export(fn: F) -> F:
    """Mark a module-level function as callable by the host."""
    setattr(fn, EXPORT_ATTR, True)
    return fn


def hook(name: str) -> Callable[[F], F]:
    """Mark a function or method as the handler of host hook point ``name``.

    Registering needs ``hook:register=<name>`` in the manifest.
    """

    def mark(fn: F) -> F:
        setattr(fn, HOOK_ATTR, name)
        return fn

    return mark


HostCaller = Callable[[str, tuple[Any, ...], dict[str, Any]], Any]


class _HostProxy:
    """Calls host functions through the worker's channel.

    ``host.work_orders.list(...)`` and ``host.call("work_orders.list", ...)``
    are the same call. Outside a worker there is no channel and every call
    raises, so plugin code cannot mistake a missing host for an empty answer.
    """

    def __init__(self, caller: HostCaller | None = None, prefix: str = "") -> None:
        self._caller = caller
        self._prefix = prefix

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        caller = _HOST_CALLER[0]
        if caller is None:
            raise RuntimeError("corral.host is only available inside a corral worker")
        return caller(name, args, kwargs)

    def __getattr__(self, part: str) -> _HostProxy:
        if part.startswith("_"):
            raise AttributeError(part)
        return _HostProxy(None, f"{self._prefix}{part}.")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(self._prefix.rstrip("."), *args, **kwargs)


_HOST_CALLER: list[HostCaller | None] = [None]


def _bind_host_caller(caller: HostCaller | None) -> None:
    """Installed by the worker once its channel is up; not for plugin code."""
    _HOST_CALLER[0] = caller


Reporter = Callable[[str, dict[str, Any]], None]
_GRANT: list[Any] = [None]
_REPORTER: list[Reporter | None] = [None]


def current_grant() -> Any:
    """The grant this worker was started with (a frozen ``corral.policy.Grant``), or None.

    For plugin-side conveniences (seed 000's decorators ask it before they run
    a function). It is a copy: replacing or ignoring it changes nothing the
    guard or the kernel enforce, which hold their own. Outside a worker it is
    None, and those conveniences refuse rather than guess.
    """
    return _GRANT[0]


def report(action: str, *, decision: str = "info", **details: Any) -> None:
    """Send one "plugin.action" audit record to the host (recorded as the worker's report).

    ``decision`` is "allow", "deny" or "info", as the plugin sees it.

    Outside a worker there is no host to tell, so this raises rather than
    dropping the record.
    """
    reporter = _REPORTER[0]
    if reporter is None:
        raise RuntimeError("corral.plugin.report is only available inside a corral worker")
    reporter(action, {**details, "decision": decision})


def _bind_worker(grant: Any, reporter: Reporter | None) -> None:
    """Installed by the worker before plugin code is imported; not for plugin code."""
    _GRANT[0] = grant
    _REPORTER[0] = reporter


host = _HostProxy()
