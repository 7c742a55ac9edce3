"""Seed 002's PluginSandbox and SandboxFactory: `with sandbox.enforce() as pen` runs code in a pen."""

from __future__ import annotations

import asyncio
import builtins
import os

import pytest

import corral
from corral.compat.seed002 import (
    PluginCapability,
    PluginSandbox,
    ResourceMonitor,
    SandboxFactory,
    UnsafeInProcessWarning,
    create_sandboxed_executor,
)
from tests.plugins.fixtures.praxis_plugin import tasks

pytestmark = pytest.mark.pen


def test_enforce_runs_the_function_in_a_confined_worker(host):
    sandbox = PluginSandbox(plugin_name="my-plugin", capabilities={"filesystem.read"}, host=host)
    with sandbox.enforce() as pen:
        result = pen.call(tasks.process_data, [1, 2, 3])
    assert result["sum"] == 6 and result["pid"] != os.getpid()
    assert host.plugins() == []  # the pen is gone with the block


def test_a_denied_read_is_refused_in_the_pen_and_listed_as_denied(host, outside):
    sandbox = PluginSandbox("my-plugin", {"filesystem.read"}, host=host)
    with sandbox.enforce() as pen, pytest.raises(corral.PermissionDenied):
        pen.call(tasks.read_file, str(outside / "secret.txt"))
    logs = sandbox.get_audit_logs()
    denied = [log for log in logs if not log.allowed]
    assert denied and str(outside / "secret.txt") in denied[0].action


def test_resource_monitor_limits_become_the_pens_limits(host):
    monitor = ResourceMonitor(max_memory_mb=128, max_cpu_seconds=5.0, max_wall_time_seconds=1.0)
    sandbox = PluginSandbox("slow-plugin", set(), resource_monitor=monitor, host=host)
    with sandbox.enforce() as pen, pytest.raises(corral.PluginTimeout) as info:
        pen.call(tasks.sleep, 30)
    assert info.value.limit == "call_timeout_seconds" and info.value.seconds == 1.0


def test_enforce_async(host):
    sandbox = PluginSandbox("async-plugin", set(), host=host)

    async def main():
        async with sandbox.enforce_async() as pen:
            return await pen.call(tasks.process_async, 21), await pen.call(tasks.process_data, [4])

    doubled, data = asyncio.run(main())
    assert doubled == 42 and data["sum"] == 4


def test_a_lambda_cannot_be_sent_into_a_pen(host):
    sandbox = PluginSandbox("my-plugin", set(), host=host)
    with sandbox.enforce() as pen, pytest.raises(corral.HostError, match="no import name"):
        pen.call(lambda: os.getpid())


def test_factory_defaults_and_audit_callback(host, outside):
    seen = []
    factory = SandboxFactory(
        default_resource_limits={"max_memory_mb": 256, "max_cpu_seconds": 15.0},
        audit_callback=lambda log: seen.append(log),
        host=host,
    )
    sandbox = factory.create_sandbox(
        plugin_name="data-processor",
        capabilities=[
            PluginCapability(name="filesystem.read"),
            PluginCapability(name="filesystem.write", options={"path": "$WORK/**"}),
        ],
    )
    assert sandbox.resource_monitor.max_memory_mb == 256
    with sandbox.enforce() as pen:
        assert pen.call(tasks.write_file, "out.txt", "ok") == "out.txt"
        with pytest.raises(corral.PermissionDenied):
            pen.call(tasks.write_file, str(outside / "pwned"), "x")
    assert not (outside / "pwned").exists()  # judged from outside the pen
    violations = [log for log in seen if not log.allowed]
    assert violations and all(log.plugin == "data-processor" for log in seen)


def test_unsafe_in_process_warns_is_audited_and_checks_open(host, outside, tmp_path, audit):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    sandbox = PluginSandbox(
        "trusted-plugin",
        [PluginCapability("filesystem.write", {"path": str(allowed)})],
        host=host,
    )
    original_open = builtins.open
    with pytest.warns(UnsafeInProcessWarning), sandbox.enforce(unsafe_in_process=True) as pen:
        assert pen.call(tasks.write_file, str(allowed / "a.txt"), "hi")
        with pytest.raises(corral.PermissionDenied):
            pen.call(tasks.read_file, str(outside / "secret.txt"))
    assert builtins.open is original_open  # the patches are gone with the block
    [unsafe] = audit.query(plugin="trusted-plugin", kind="unsafe")
    assert unsafe.details["unsafe_in_process"] is True
    decisions = [(log.action.split()[0], log.allowed) for log in sandbox.get_audit_logs()]
    assert ("file.write", True) in decisions and ("file.read", False) in decisions


def test_create_sandboxed_executor_runs_each_execution_in_a_pen(host, outside):
    """The seed's executor: the plugin runs confined to the capabilities of the call."""
    seen = []
    executor = create_sandboxed_executor(audit_callback=seen.append, host=host)
    executor.register_plugin("my-plugin", tasks.execute, [PluginCapability("filesystem.read")])

    async def main():
        ran = await executor.execute_plugin_sandboxed("my-plugin", params={"input": "data"})
        with pytest.raises(corral.PermissionDenied):
            await executor.execute_plugin_sandboxed(
                "my-plugin", {"action": "read", "path": str(outside / "secret.txt")}
            )
        with pytest.raises(corral.PermissionDenied):
            await executor.execute_plugin_sandboxed(
                "writer",
                {"action": "write", "path": str(outside / "pwned"), "text": "x"},
                capabilities=[PluginCapability("filesystem.write", {"path": "$WORK/**"})],
                function=tasks.execute,
            )
        return ran

    ran = asyncio.run(main())
    assert ran["input"] == "data" and ran["pid"] != os.getpid()
    assert not (outside / "pwned").exists()  # judged from outside the pen
    assert host.plugins() == []  # every pen ended with its execution
    denied = [log for log in executor.get_audit_logs("my-plugin") if not log.allowed]
    assert denied and str(outside / "secret.txt") in denied[0].action
    assert any(not log.allowed and log.plugin == "writer" for log in seen)


def test_an_unknown_plugin_is_a_clear_error(host):
    executor = create_sandboxed_executor(host=host)
    with pytest.raises(corral.HostError, match="register_plugin"):
        asyncio.run(executor.execute_plugin_sandboxed("nobody", {}))
