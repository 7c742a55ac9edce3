"""Seed 002 (Praxis plugins): ``PluginSandbox.enforce()``, ``SandboxFactory``, audit logs.

The seed's sandbox patched ``open`` and friends inside the host process while
a ``with`` block ran. That is no barrier: the plugin shares the interpreter
and can undo any patch. Here ``with sandbox.enforce() as pen:`` yields a
handle whose ``pen.call(fn, ...)`` runs ``fn`` (a module-level function of
the plugin) in a confined worker, with the sandbox's capabilities as the
grant and its ``ResourceMonitor`` as the limits.

The seed's patching survives only as ``enforce(unsafe_in_process=True)``:
a convenience for trusted code that warns, is audited as "unsafe", and
checks ``open``/``os.listdir`` against the capabilities in this process.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import io
import math
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import corral
from corral.compat import _staging
from corral.compat._grants import grant_of
from corral.policy import Grant
from corral.policy.decision import Request

AuditCallback = Callable[["AuditLog"], None]


class UnsafeInProcessWarning(UserWarning):
    """``enforce(unsafe_in_process=True)`` confines nothing; said every time it is used."""


@dataclass(frozen=True)
class PluginCapability:
    """A capability with options: ``PluginCapability("filesystem.write", {"path": "/out"})``."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResourceMonitor:
    """The seed's limits, applied as the pen's memory, CPU-time and call-time limits."""

    max_memory_mb: float | None = None
    max_cpu_seconds: float | None = None
    max_wall_time_seconds: float | None = None

    def limits(self) -> dict[str, Any]:
        pairs = {
            "memory_mb": self.max_memory_mb,
            "cpu_seconds": self.max_cpu_seconds,
            "call_timeout_seconds": self.max_wall_time_seconds,
        }
        whole = ("memory_mb", "cpu_seconds")  # the manifest counts these in whole units
        return {k: math.ceil(v) if k in whole else v for k, v in pairs.items() if v is not None}


@dataclass(frozen=True)
class AuditLog:
    """One allowed or denied action, as the seed's ``get_audit_logs()`` lists them."""

    timestamp: float
    plugin: str
    action: str
    allowed: bool
    details: dict[str, Any] = field(default_factory=dict)


def _capability_text(cap: PluginCapability | str) -> str | dict[str, Any]:
    if isinstance(cap, str):
        return cap
    return {"name": cap.name, "options": dict(cap.options)} if cap.options else cap.name


class _Pen(_staging.Pen):
    """What ``enforce()`` yields: ``call(fn, ...)`` runs ``fn`` in this sandbox's pen."""

    def __init__(self, sandbox: PluginSandbox) -> None:
        super().__init__(sandbox.host, sandbox._manifest)
        self._sandbox = sandbox

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return super().call(fn, *args, **kwargs)
        finally:
            self._sandbox._sync()

    def close(self) -> None:
        super().close()
        self._sandbox._sync()


class _AsyncPen:
    """The asyncio form: ``await pen.call(fn, ...)``."""

    def __init__(self, pen: _Pen) -> None:
        self._pen = pen

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(self._pen.call, fn, *args, **kwargs)


class _InProcessPen:
    """``unsafe_in_process=True``: ``call`` runs ``fn`` right here, under the seed's patches."""

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


_PATCH_LOCK = threading.Lock()


class PluginSandbox:
    """One plugin's capabilities and limits, enforced in a pen per ``enforce()`` block."""

    def __init__(
        self,
        plugin_name: str,
        capabilities: Iterable[PluginCapability | str] = (),
        resource_monitor: ResourceMonitor | None = None,
        *,
        host: corral.Host | None = None,
        audit_callback: AuditCallback | None = None,
    ) -> None:
        self.plugin_name = plugin_name
        self.name = _staging.manifest_name(plugin_name)
        self.capabilities = list(capabilities)
        self.resource_monitor = resource_monitor or ResourceMonitor()
        self.audit_callback = audit_callback
        self._host = host
        self._own_host = host is None
        self._logs: list[AuditLog] = []
        self._seen: set[str] = set()

    @property
    def host(self) -> corral.Host:
        if self._host is None:
            self._host = corral.Host()
        return self._host

    def _manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": "0.0.0",
            "description": f"seed 002 sandbox for {self.plugin_name}",
            "permissions": [_capability_text(c) for c in self.capabilities],
            "limits": self.resource_monitor.limits(),
        }

    @contextlib.contextmanager
    def enforce(self, *, unsafe_in_process: bool = False) -> Iterator[Any]:
        """A pen for this block (or, with ``unsafe_in_process``, the seed's in-process patches)."""
        if unsafe_in_process:
            with self._patched():
                yield _InProcessPen()
            return
        pen = _Pen(self)
        try:
            yield pen
        finally:
            pen.close()

    @contextlib.asynccontextmanager
    async def enforce_async(self) -> AsyncIterator[_AsyncPen]:
        """``async with sandbox.enforce_async() as pen: await pen.call(fn, ...)``."""
        pen = _Pen(self)
        try:
            yield _AsyncPen(pen)
        finally:
            await asyncio.to_thread(pen.close)

    def get_audit_logs(self) -> list[AuditLog]:
        """Every allowed and denied action recorded for this sandbox's plugin, oldest first."""
        self._sync()
        return list(self._logs)

    def close(self) -> None:
        if self._own_host and self._host is not None:
            self._host.close()
            self._host = None

    # --- audit ------------------------------------------------------------------

    def _append(self, log: AuditLog) -> None:
        self._logs.append(log)
        if self.audit_callback is not None:
            self.audit_callback(log)

    def _sync(self) -> None:
        """Pull this plugin's new records from the host's audit log."""
        if self._host is None:
            return
        for event in self._host.audit.query(plugin=self.name):
            if event.id in self._seen:
                continue
            self._seen.add(event.id)
            target = event.details.get("target") or event.details.get("function") or ""
            action = f"{event.kind} {target}".strip()
            details = {**event.details, "source": event.source}
            self._append(AuditLog(event.time, self.name, action, event.decision != "deny", details))

    # --- the seed's in-process patching (unsafe) --------------------------------

    @contextlib.contextmanager
    def _patched(self) -> Iterator[None]:
        warnings.warn(
            f"sandbox {self.plugin_name!r}: unsafe_in_process=True confines nothing; "
            "the code runs in this process and can undo the checks",
            UnsafeInProcessWarning,
            stacklevel=4,
        )
        self.host.record("unsafe", self.name, "info", compat="seed002", unsafe_in_process=True)
        self._sync()
        grant = _in_process_grant(self.name, self.capabilities)
        if not _PATCH_LOCK.acquire(blocking=False):
            raise corral.HostError("another unsafe_in_process sandbox is active in this process")
        real_open, real_listdir = builtins.open, os.listdir

        def check(action: str, path: Any) -> None:
            target = os.path.realpath(os.fspath(path))
            decision = grant.check(Request("file", action, target))
            self._append(
                AuditLog(time.time(), self.name, f"file.{action} {target}", decision.allowed)
            )
            if not decision.allowed:
                raise corral.PermissionDenied(
                    f"{self.plugin_name}: {action} {target} needs {decision.rule} "
                    f"(capability filesystem.{action})",
                    permission=decision.rule,
                    target=target,
                    layer="compat",
                )

        def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if not isinstance(file, int):
                writes = any(c in mode for c in "wax+")
                check("write" if writes else "read", file)
            return real_open(file, mode, *args, **kwargs)

        def guarded_listdir(path: Any = ".") -> list[Any]:
            if not isinstance(path, int):
                check("read", path)
            return real_listdir(path)

        builtins.open = io.open = guarded_open
        os.listdir = guarded_listdir
        try:
            yield
        finally:
            builtins.open = io.open = real_open
            os.listdir = real_listdir
            _PATCH_LOCK.release()


def _in_process_grant(name: str, capabilities: Iterable[PluginCapability | str]) -> Grant:
    """Capabilities as a grant; a ``path`` option covers that path and everything below it."""
    texts: list[str] = []
    for cap in capabilities:
        if isinstance(cap, str):
            texts.append(cap)
            continue
        path = cap.options.get("path")
        if isinstance(path, str):
            texts += [f"{cap.name}={path}", f"{cap.name}={path.rstrip('/')}/**"]
        else:
            texts.append(cap.name)
    return grant_of(name, texts)


class SandboxFactory:
    """Sandboxes with shared default limits, one audit callback and one host."""

    def __init__(
        self,
        default_resource_limits: dict[str, float] | None = None,
        audit_callback: AuditCallback | None = None,
        *,
        host: corral.Host | None = None,
    ) -> None:
        self.default_resource_limits = dict(default_resource_limits or {})
        self.audit_callback = audit_callback
        self._host = host

    def create_sandbox(
        self,
        plugin_name: str,
        capabilities: Iterable[PluginCapability | str] = (),
        resource_limits: dict[str, float] | None = None,
    ) -> PluginSandbox:
        limits = {**self.default_resource_limits, **(resource_limits or {})}
        return PluginSandbox(
            plugin_name,
            capabilities,
            ResourceMonitor(**limits),
            host=self._host,
            audit_callback=self.audit_callback,
        )


class SandboxedPluginExecutor:
    """The seed's ``execute_plugin_sandboxed``: each execution in a fresh pen of its own.

    The seed looked a plugin up by name and ran it under its declared
    capabilities. Here a plugin is a module-level function registered under a
    name (``register_plugin``) or passed as ``function=``; it is called as
    ``function(params)`` inside a pen granted exactly ``capabilities`` (the
    call's, else the registered ones), and the pen is removed afterwards.
    """

    def __init__(self, factory: SandboxFactory) -> None:
        self.factory = factory
        self._own_host = factory._host is None
        self._plugins: dict[str, tuple[Callable[..., Any], list[PluginCapability | str]]] = {}
        self.last_sandbox: dict[str, PluginSandbox] = {}

    def register_plugin(
        self,
        plugin_name: str,
        function: Callable[..., Any],
        capabilities: Iterable[PluginCapability | str] = (),
    ) -> None:
        """Name ``function`` (module-level, in the plugin's own package) as ``plugin_name``."""
        self._plugins[plugin_name] = (function, list(capabilities))

    async def execute_plugin_sandboxed(
        self,
        plugin_name: str,
        params: dict[str, Any] | None = None,
        capabilities: Iterable[PluginCapability | str] | None = None,
        *,
        function: Callable[..., Any] | None = None,
    ) -> Any:
        """``function(params)`` in a pen granted ``capabilities``; the pen ends with the call."""
        registered = self._plugins.get(plugin_name)
        if function is None and registered is None:
            raise corral.HostError(
                f"no plugin {plugin_name!r}: register_plugin() it or pass function="
            )
        fn = function if function is not None else registered[0]  # type: ignore[index]
        caps = list(capabilities) if capabilities is not None else (
            registered[1] if registered is not None else []
        )
        if self.factory._host is None:
            self.factory._host = corral.Host()  # one host for every execution, closed by close()
        sandbox = self.factory.create_sandbox(plugin_name, caps)
        self.last_sandbox[plugin_name] = sandbox
        async with sandbox.enforce_async() as pen:
            return await pen.call(fn, dict(params or {}))

    def get_audit_logs(self, plugin_name: str) -> list[AuditLog]:
        """The audit logs of ``plugin_name``'s last execution (empty before the first)."""
        sandbox = self.last_sandbox.get(plugin_name)
        return sandbox.get_audit_logs() if sandbox is not None else []

    def close(self) -> None:
        """Close the host this executor started (one passed to it stays the caller's)."""
        if self._own_host and self.factory._host is not None:
            self.factory._host.close()
            self.factory._host = None


def create_sandboxed_executor(
    default_resource_limits: dict[str, float] | None = None,
    audit_callback: AuditCallback | None = None,
    *,
    host: corral.Host | None = None,
) -> SandboxedPluginExecutor:
    """The seed's entry point: an executor over a ``SandboxFactory`` with these defaults."""
    factory = SandboxFactory(default_resource_limits, audit_callback, host=host)
    return SandboxedPluginExecutor(factory)
