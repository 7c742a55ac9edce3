"""Seed 003's PluginSandbox, PermissionManager and PluginLoader, used as the seed's test plan does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

import corral
from corral.compat.seed003 import (
    FileSizeError,
    PermissionDeniedError,
    PermissionManager,
    PluginLoader,
    PluginMetadata,
    PluginPermission,
    PluginSandbox,
    PluginTimeoutError,
    PluginType,
    PluginValidationError,
    ResourceUsage,
    ValidationResult,
)

ROOT = Path(__file__).resolve().parents[2]
GAO = ROOT / "examples" / "plugins" / "gao-example"
FIXTURES = ROOT / "tests" / "plugins" / "fixtures"


def metadata(path: Path, entry: str, **more) -> PluginMetadata:
    return PluginMetadata(
        name=path.name,
        version="1.0.0",
        type=PluginType.AGENT,
        entry_point=entry,
        plugin_path=path,
        **more,
    )


@pytest.fixture
def sandbox(host):
    return PluginSandbox(host=host)


def test_the_ten_permissions():
    assert len(PluginPermission) == 10
    assert PluginPermission.NETWORK_REQUEST.value == "network:request"
    assert PermissionDeniedError is corral.PermissionDenied
    assert PluginTimeoutError is corral.PluginTimeout


def test_permission_manager_grant_check_revoke():
    manager = PermissionManager()
    manager.grant_permissions("p", ["file:read", "hook:register", "not-a-permission"])
    assert manager.has_permission("p", PluginPermission.FILE_READ)
    assert manager.has_permission("p", PluginPermission.HOOK_REGISTER)
    assert not manager.has_permission("p", PluginPermission.FILE_WRITE)
    manager.grant("q", [PluginPermission.FILE_WRITE, PluginPermission.NETWORK_REQUEST])
    assert manager.has("q", PluginPermission.FILE_READ)  # corral's hierarchy: write implies read
    assert manager.has("q", "network:connect")  # the seed's network:request is network:connect
    manager.revoke_all("q")
    assert not manager.has("q", PluginPermission.FILE_WRITE)


def test_validate_a_valid_plugin(sandbox):
    result = sandbox.validate_plugin(metadata(GAO, "gao_example:ExamplePlugin"))
    assert result == ValidationResult(True, [], [])


def test_validate_an_invalid_entry_point_and_permission(sandbox):
    result = sandbox.validate_plugin(
        metadata(GAO, "gao example!", permissions=["file:read", "fiel:read"])
    )
    assert not result.valid
    assert "Invalid entry point format: 'gao example!'" in result.errors
    assert any(e.startswith("Invalid permission: fiel:read") for e in result.errors)


def test_validate_an_entry_class_that_is_not_a_plugin(sandbox):
    result = sandbox.validate_plugin(metadata(FIXTURES / "entry_not_a_plugin", "tools:Helper"))
    assert not result.valid
    assert "entry class Helper must derive corral.Plugin" in result.errors[0]


def test_validate_warns_about_suspicious_code_without_blocking(sandbox):
    result = sandbox.validate_plugin(metadata(FIXTURES / "malicious_plugin", "attacks"))
    assert result.valid
    assert any("imports ctypes" in w and w.startswith("attacks.py:") for w in result.warnings)
    assert any("imports subprocess" in w for w in result.warnings)


def test_execute_with_timeout_success_and_timeout(sandbox):
    async def quick() -> str:
        return "done"

    async def slow() -> None:
        await asyncio.sleep(10)

    assert asyncio.run(sandbox.execute_with_timeout(quick, 1.0)) == "done"
    assert asyncio.run(sandbox.execute_with_timeout(lambda x: x * 2, 1.0, 21)) == 42
    for fn in (slow, lambda: time.sleep(3)):
        start = time.monotonic()
        with pytest.raises(PluginTimeoutError):
            asyncio.run(sandbox.execute_with_timeout(fn, 0.2))
        assert time.monotonic() - start < 2


pen = pytest.mark.pen


@pen
def test_loader_validates_loads_and_fills_permissions_from_the_grant(sandbox):
    loader = PluginLoader(sandbox)
    handle = loader.load_plugin(metadata(GAO, "gao_example:ExamplePlugin"))
    assert sandbox.check_permissions(handle, PluginPermission.FILE_WRITE)
    assert sandbox.check_permissions("gao-example", PluginPermission.HOOK_REGISTER)
    assert not sandbox.check_permissions("gao-example", PluginPermission.NETWORK_REQUEST)
    assert loader.call("gao-example", "note", "hello") == 1
    usage = sandbox.monitor_resources("gao-example")
    assert isinstance(usage, ResourceUsage) and usage.wall_seconds > 0 and usage.memory_mb > 0


@pen
def test_loader_refuses_an_invalid_plugin_before_anything_runs(sandbox, host):
    loader = PluginLoader(sandbox)
    with pytest.raises(PluginValidationError, match=r"must derive corral\.Plugin"):
        loader.load_plugin(metadata(FIXTURES / "entry_not_a_plugin", "tools:Helper"))
    assert host.plugins() == []


@pen
def test_a_denied_operation_raises_and_unloads_the_plugin(sandbox, outside):
    loader = PluginLoader(sandbox)
    handle = loader.load_plugin(metadata(FIXTURES / "malicious_plugin", "attacks"))
    with pytest.raises(PermissionDeniedError) as info:
        loader.call("malicious-plugin", "read_open", str(outside / "secret.txt"))
    assert "TOPSECRET" not in str(info.value)
    assert loader.get_plugin("malicious-plugin") is None and handle.state == "unloaded"
    assert not sandbox.check_permissions("malicious-plugin", PluginPermission.FILE_WRITE)


@pen
def test_a_file_past_the_size_limit_raises_file_size_error_and_stops_at_the_limit(sandbox, host):
    """The seed's FileSizeError: the pen's RLIMIT_FSIZE stops the write, the loader names it."""
    loader = PluginLoader(sandbox)
    handle = loader.load_plugin(metadata(FIXTURES / "malicious_plugin", "attacks"))
    assert handle.grant.limits.file_size_mb == 1
    with pytest.raises(FileSizeError) as info:
        loader.call("malicious-plugin", "huge_file", 4)
    assert isinstance(info.value, corral.ResourceLimitExceeded)
    assert (info.value.limit, info.value.value) == ("file_size_mb", 1)
    huge = host.home.work / "malicious-plugin" / "huge.bin"
    assert huge.stat().st_size <= 1024 * 1024  # judged from outside: the file stopped at 1 MB
    assert loader.get_plugin("malicious-plugin") is None  # a breach unloads, as the seed says
