"""Seed 003 (GAO dev plugins): ``PluginSandbox``, ``PermissionManager``, ``PluginLoader``.

The seed's sandbox was a permission table, a thread timeout and a resource
record; here each piece is backed by corral's real one. ``PluginLoader``
loads a plugin into a pen (the seed's "execution timeout" is the pen's call
timeout, which kills the worker), fills the ``PermissionManager`` from the
grant the host computed (never from what the plugin claims), and unloads a
plugin whose call was refused or breached a limit. ``validate_plugin`` reads
the manifest and the code without running any of it: whether the entry class
really derives ``corral.Plugin`` is settled again when a pen imports it.

``execute_with_timeout`` runs host-side callables: a thread cannot be killed,
so a runaway is abandoned at the deadline (and bounded, see
``corral.runtime.deadline``); code that must be stopped belongs in a pen.
"""

from __future__ import annotations

import ast
import asyncio
import enum
import inspect
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

import corral
from corral.compat._grants import canonical
from corral.errors import ResourceLimitExceeded
from corral.manifest import find_manifest, load_manifest
from corral.policy import Permission
from corral.runtime.deadline import DeadlineExceeded, DeadlineRunner

log = structlog.get_logger("corral.compat.seed003")

PermissionDeniedError = corral.PermissionDenied
"""The seed's name for a refused operation: corral's own ``PermissionDenied``."""
PluginTimeoutError = corral.PluginTimeout
"""The seed's name for a timeout: corral's own ``PluginTimeout``."""
PluginValidationError = corral.PluginValidationError

_EFBIG = "[Errno 27]"
"""How a plugin's ``OSError(EFBIG)`` reads once it crossed the pen's wall as ``PluginFailed``."""


class FileSizeError(ResourceLimitExceeded):
    """A plugin wrote a file past its ``file_size_mb`` limit (seed 003: 100 MB by default).

    The kernel enforced it (``RLIMIT_FSIZE`` in the pen: the write failed with
    EFBIG and the file stopped at the limit); this names the breach the way the
    seed does, and is a ``ResourceLimitExceeded`` so corral's handlers catch it.
    """

    def __init__(self, message: str, *, value: float | int = 0) -> None:
        super().__init__(message, limit="file_size_mb", value=value)


def file_size_error(handle: corral.PluginHandle, exc: BaseException) -> FileSizeError | None:
    """``exc`` as a ``FileSizeError`` when it is the pen's file-size limit refusing a write."""
    if not isinstance(exc, corral.PluginFailed) or _EFBIG not in str(exc):
        return None
    limit = handle.grant.limits.file_size_mb
    return FileSizeError(
        f"plugin {handle.name!r} wrote a file past its limit of {limit} MB "
        "(raise limits.file_size_mb in plugin.yaml, within the tier's ceiling)",
        value=limit,
    )

_ENTRY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*)?")
_SUSPICIOUS_CALLS = {
    "os.system": "runs a shell command",
    "os.popen": "runs a shell command",
    "os.remove": "deletes files",
    "os.unlink": "deletes files",
    "shutil.rmtree": "deletes directory trees",
    "eval": "executes dynamic code",
    "exec": "executes dynamic code",
    "__import__": "imports dynamically",
}
_SUSPICIOUS_IMPORTS = {
    "subprocess": "runs programs",
    "socket": "opens network connections",
    "urllib": "makes network requests",
    "requests": "makes network requests",
    "httpx": "makes network requests",
    "ctypes": "calls native code",
}
_WARN_AT = 0.8


class PluginPermission(enum.StrEnum):
    """The seed's ten permissions; the values are also corral permission spellings."""

    FILE_READ = "file:read"
    FILE_WRITE = "file:write"
    FILE_DELETE = "file:delete"
    NETWORK_REQUEST = "network:request"
    SUBPROCESS_EXECUTE = "subprocess:execute"
    HOOK_REGISTER = "hook:register"
    CONFIG_READ = "config:read"
    CONFIG_WRITE = "config:write"
    DATABASE_READ = "database:read"
    DATABASE_WRITE = "database:write"


class PluginType(enum.StrEnum):
    AGENT = "agent"
    WORKFLOW = "workflow"
    METHODOLOGY = "methodology"


@dataclass
class PluginMetadata:
    """The seed's plugin description; ``plugin_path`` is the plugin directory."""

    name: str
    version: str
    type: PluginType | str
    entry_point: str
    plugin_path: Path
    description: str = ""
    enabled: bool = True
    permissions: list[str] = field(default_factory=list)
    timeout_seconds: int = 30


@dataclass
class ValidationResult:
    valid: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ResourceUsage:
    """Usage of a plugin's last call, measured from outside its pen."""

    cpu_percent: float
    memory_mb: float
    start_time: float
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def _permission(value: PluginPermission | str) -> Permission:
    text = value.value if isinstance(value, PluginPermission) else str(value)
    return Permission.parse(canonical(text)[0])


class PermissionManager:
    """Which permissions each plugin holds, checked with corral's hierarchy."""

    def __init__(self) -> None:
        self._permissions: dict[str, list[Permission]] = {}

    def grant_permissions(
        self, plugin_name: str, permissions: Iterable[PluginPermission | str]
    ) -> None:
        """Add ``permissions``; an unreadable one is logged and skipped, as the seed does."""
        held = self._permissions.setdefault(plugin_name, [])
        for value in permissions:
            try:
                held.append(_permission(value))
            except ValueError as exc:
                log.warning(
                    "invalid_permission", plugin=plugin_name, permission=str(value), error=str(exc)
                )

    def has_permission(self, plugin_name: str, operation: PluginPermission | str) -> bool:
        """Whether a held permission gives ``operation``, at any scope (the seed's are unscoped)."""
        want = _permission(operation)
        return any(
            p.domain == want.domain and p.grants(want.action)
            for p in self._permissions.get(plugin_name, [])
        )

    def revoke_all_permissions(self, plugin_name: str) -> None:
        self._permissions.pop(plugin_name, None)

    grant = grant_permissions
    has = has_permission
    revoke_all = revoke_all_permissions


class ResourceMonitor:
    """The last measured usage per plugin, with the seed's limit check."""

    def __init__(self) -> None:
        self._usage: dict[str, ResourceUsage] = {}

    def start_monitoring(self, plugin_name: str) -> None:
        self._usage[plugin_name] = ResourceUsage(0.0, 0.0, time.time())

    def record(self, plugin_name: str, usage: ResourceUsage) -> None:
        self._usage[plugin_name] = usage

    def get_usage(self, plugin_name: str) -> ResourceUsage | None:
        return self._usage.get(plugin_name)

    def check_limits(
        self, plugin_name: str, max_memory_mb: float = 500.0, max_cpu_percent: float = 80.0
    ) -> bool:
        usage = self._usage.get(plugin_name)
        if usage is None:
            return True
        if usage.memory_mb > max_memory_mb:
            log.warning("plugin_memory_exceeded", plugin=plugin_name, memory_mb=usage.memory_mb)
            return False
        if usage.cpu_percent > max_cpu_percent:
            log.warning("plugin_cpu_exceeded", plugin=plugin_name, cpu_percent=usage.cpu_percent)
            return False
        return True


class PluginSandbox:
    """The seed's sandbox facade over a corral ``Host``."""

    def __init__(self, config: dict[str, Any] | None = None, *, host: corral.Host | None = None):
        self.config = dict(config or {})
        self._host = host
        self._own_host = host is None
        self._permission_manager = PermissionManager()
        self._resource_monitor = ResourceMonitor()
        self._runner = DeadlineRunner(int(self.config.get("max_runaways", 8)))

    @property
    def host(self) -> corral.Host:
        if self._host is None:
            self._host = corral.Host()
        return self._host

    @property
    def permissions(self) -> PermissionManager:
        return self._permission_manager

    def close(self) -> None:
        """Close the host this sandbox created (one passed in stays the caller's)."""
        if self._own_host and self._host is not None:
            self._host.close()
            self._host = None

    # --- validation ---------------------------------------------------------

    def validate_plugin(self, metadata: PluginMetadata) -> ValidationResult:
        """Entry point, manifest, permissions, entry class and code scan; nothing is run."""
        errors: list[str] = []
        warnings: list[str] = []
        if not _ENTRY.fullmatch(metadata.entry_point or ""):
            errors.append(f"Invalid entry point format: {metadata.entry_point!r}")
        for perm in metadata.permissions:
            try:
                _permission(perm)
            except ValueError as exc:
                errors.append(f"Invalid permission: {perm} ({exc})")
        root = Path(metadata.plugin_path)
        if not root.is_dir():
            errors.append(f"plugin path {root} is not a directory")
            return ValidationResult(False, errors, warnings)
        try:
            find_manifest(root)
            load_manifest(root)
        except corral.ManifestError as exc:
            errors.extend(str(issue) for issue in exc.issues)
        except corral.CorralError as exc:
            errors.append(str(exc))
        if not errors:
            errors.extend(_entry_class_errors(root, metadata.entry_point))
        warnings.extend(_scan(root))
        if self.config.get("require_signature"):
            errors.append("signature required, but package signing is not in this corral version")
        return ValidationResult(not errors, errors, warnings)

    # --- permissions ----------------------------------------------------------

    def check_permission(self, plugin_name: str, operation: PluginPermission | str) -> bool:
        return self._permission_manager.has_permission(plugin_name, operation)

    def check_permissions(self, plugin: Any, operation: PluginPermission | str) -> bool:
        """``plugin`` is a name or a loaded ``PluginHandle``."""
        return self.check_permission(getattr(plugin, "name", plugin), operation)

    # --- time and resources ---------------------------------------------------

    async def execute_with_timeout(
        self, func: Callable[..., Any], timeout_seconds: float, *args: Any, **kwargs: Any
    ) -> Any:
        """``func``'s result, or ``PluginTimeoutError`` after ``timeout_seconds``."""
        try:
            if inspect.iscoroutinefunction(func):
                return await asyncio.wait_for(func(*args, **kwargs), timeout=timeout_seconds)
            return await asyncio.to_thread(self._runner.run, func, timeout_seconds, *args, **kwargs)
        except (TimeoutError, DeadlineExceeded):
            name = getattr(func, "__name__", repr(func))
            log.error("plugin_timeout", function=name, timeout=timeout_seconds)
            raise PluginTimeoutError(
                f"Plugin execution exceeded timeout of {timeout_seconds}s ({name})",
                limit="execute_with_timeout",
                seconds=timeout_seconds,
            ) from None

    def monitor_resources(self, plugin: Any) -> ResourceUsage:
        """Usage of the plugin's last call (a name or a handle), warning at 80 % of its limits."""
        handle = self._handle(plugin)
        usage = handle.last_usage
        if usage is None:
            result = ResourceUsage(0.0, 0.0, time.time())
        else:
            percent = 100.0 * usage.cpu_seconds / usage.wall_seconds if usage.wall_seconds else 0.0
            result = ResourceUsage(
                round(percent, 2),
                usage.peak_memory_mb,
                time.time() - usage.wall_seconds,
                usage.wall_seconds,
                usage.cpu_seconds,
            )
        limits = handle.grant.limits
        if result.memory_mb >= _WARN_AT * limits.memory_mb:
            result.warnings.append(f"memory {result.memory_mb:.0f} MB of {limits.memory_mb} MB")
        if result.cpu_percent >= _WARN_AT * limits.cpu_percent:
            result.warnings.append(f"CPU {result.cpu_percent:.0f} % of {limits.cpu_percent} %")
        for warning in result.warnings:
            log.warning("plugin_resource_threshold", plugin=handle.name, detail=warning)
        self._resource_monitor.record(handle.name, result)
        return result

    def _handle(self, plugin: Any) -> corral.PluginHandle:
        if isinstance(plugin, corral.PluginHandle):
            return plugin
        for handle in self.host.plugins():
            if handle.name == str(plugin):
                return handle
        raise KeyError(f"plugin {plugin!r} is not loaded")


class PluginLoader:
    """Validates, then loads into a pen; unloads a plugin whose call was a violation."""

    VIOLATIONS = (corral.PermissionDenied, corral.ResourceLimitExceeded, corral.PluginTimeout)
    """Errors that unload the plugin; a write past ``file_size_mb`` is one, as ``FileSizeError``."""

    def __init__(self, sandbox: PluginSandbox | None = None) -> None:
        self._sandbox = sandbox or PluginSandbox()
        self._plugins: dict[str, corral.PluginHandle] = {}

    @property
    def sandbox(self) -> PluginSandbox:
        return self._sandbox

    def load_plugin(self, metadata: PluginMetadata) -> corral.PluginHandle:
        validation = self._sandbox.validate_plugin(metadata)
        if not validation.valid:
            raise PluginValidationError(metadata.name, "; ".join(validation.errors))
        for warning in validation.warnings:
            log.warning("plugin_security_warning", plugin=metadata.name, warning=warning)
        handle = self._sandbox.host.load(metadata.plugin_path)
        self._plugins[handle.name] = handle
        granted = [str(p) for p in handle.grant.permissions]
        self._sandbox.permissions.grant_permissions(handle.name, granted)
        self._sandbox._resource_monitor.start_monitoring(handle.name)
        return handle

    def get_plugin(self, name: str) -> corral.PluginHandle | None:
        return self._plugins.get(name)

    def call(self, name: str, callable_name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a loaded plugin; a refusal, breach or timeout unloads it, then re-raises."""
        handle = self._plugins.get(name)
        if handle is None:
            raise KeyError(f"plugin {name!r} is not loaded")
        try:
            try:
                return handle.call(callable_name, *args, **kwargs)
            except corral.PluginFailed as exc:
                too_big = file_size_error(handle, exc)
                if too_big is None:
                    raise
                raise too_big from exc
        except self.VIOLATIONS as exc:
            log.warning("plugin_violation_unloaded", plugin=name, error=type(exc).__name__)
            self.unload_plugin(name)
            raise
        finally:
            if name in self._plugins:
                self._sandbox.monitor_resources(handle)

    def unload_plugin(self, name: str) -> None:
        handle = self._plugins.pop(name, None)
        if handle is not None:
            handle.close()
        self._sandbox.permissions.revoke_all_permissions(name)


def _entry_class_errors(root: Path, entry: str) -> list[str]:
    """Static check that ``module:Class`` exists and names corral.Plugin as a base."""
    module, _, attr = entry.partition(":")
    if not attr:
        return []
    source = root.joinpath(*module.split(".")).with_suffix(".py")
    if not source.is_file():
        source = root.joinpath(*module.split("."), "__init__.py")
    if not source.is_file():
        return [f"entry module {module!r} not found in {root}"]
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except SyntaxError as exc:
        return [f"{source.name}:{exc.lineno}: syntax error: {exc.msg}"]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == attr:
            bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
            if "Plugin" not in bases:
                return [f"entry class {attr} must derive corral.Plugin (bases: {bases or 'none'})"]
            return []
    return [f"entry class {attr!r} not found in {source.name}"]


def _scan(root: Path) -> list[str]:
    """The seed's informational code scan, on the AST (so comments and strings do not count)."""
    warnings: list[str] = []
    for path in sorted(root.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            warnings.append(f"{path.name}: not scanned ({exc})")
            continue
        rel = path.relative_to(root)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    why = _SUSPICIOUS_IMPORTS.get(name.split(".")[0])
                    if why:
                        warnings.append(f"{rel}:{node.lineno}: imports {name} ({why})")
            elif isinstance(node, ast.Call):
                name = ast.unparse(node.func)
                why = _SUSPICIOUS_CALLS.get(name)
                if why:
                    warnings.append(f"{rel}:{node.lineno}: calls {name} ({why})")
    return warnings
