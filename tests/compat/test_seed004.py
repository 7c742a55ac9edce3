"""Seed 004's SecurityPolicy and SandboxManager, used as the seed's example does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import corral
from corral.compat.seed004 import (
    NetworkPolicy,
    ResourceLimits,
    SandboxManager,
    SecurityPolicy,
    SecurityViolationType,
)

FIXTURES = Path(__file__).resolve().parents[1] / "plugins" / "fixtures"


def seed_policy(**changes):
    fields = {
        "resource_limits": ResourceLimits(memory_mb=256, cpu_percent=25.0, max_processes=10),
        "network_policy": NetworkPolicy.NONE,
        "blocked_commands": {"rm", "sudo", "kill"},
        "enable_monitoring": True,
        "violation_threshold": 3,
    }
    return SecurityPolicy(**{**fields, **changes})


def test_the_seeds_example_without_a_plugin():
    async def main():
        manager = SandboxManager(security_policy=seed_policy(blocked_file_patterns={"*.key"}))
        sandbox_id = await manager.create_sandbox()
        assert await manager.validate_command_execution(sandbox_id, "python3 script.py")
        assert not await manager.validate_command_execution(sandbox_id, "rm -rf /")
        assert not await manager.validate_command_execution(sandbox_id, "/usr/bin/sudo id")
        assert await manager.validate_file_operation(sandbox_id, "/work/data.txt")
        assert not await manager.validate_file_operation(sandbox_id, "/work/id.key")
        return await manager.get_security_report(sandbox_id)

    report = asyncio.run(main())
    kinds = [v["violation_type"] for v in report["violations"]]
    assert kinds == [SecurityViolationType.COMMAND_BLOCKED] * 2 + [
        SecurityViolationType.FILE_ACCESS_DENIED
    ]
    assert report["violation_count"] == 3 and report["terminated"] is True
    assert report["network_policy"] == "none"


def test_allowed_commands_and_extensions():
    async def main():
        manager = SandboxManager(
            SecurityPolicy(allowed_commands={"python3"}, allowed_file_extensions={".txt"})
        )
        sandbox_id = await manager.create_sandbox()
        return [
            await manager.validate_command_execution(sandbox_id, "python3 -V"),
            await manager.validate_command_execution(sandbox_id, "bash -c id"),
            await manager.validate_file_operation(sandbox_id, "/work/out.txt", "write"),
            await manager.validate_file_operation(sandbox_id, "/work/out.sh", "write"),
        ]

    assert asyncio.run(main()) == [True, False, True, False]


@pytest.mark.pen
def test_a_plugin_sandbox_gets_the_policys_ceilings_and_is_terminated_at_the_threshold(home, audit):
    policy = seed_policy(
        resource_limits=ResourceLimits(memory_mb=128, cpu_percent=25.0, max_processes=10),
        violation_threshold=2,
    )

    async def main(host):
        manager = SandboxManager(policy, host=host)
        sandbox_id = await manager.create_sandbox(FIXTURES / "exec_plugin")
        plugin = manager.plugin(sandbox_id)
        assert plugin.grant.limits.memory_mb == 128  # the policy's ceiling, applied by the host
        assert plugin.call("run", ["/usr/bin/echo", "hi"])["stdout"] == "hi\n"
        assert await manager.validate_command_execution(sandbox_id, "/usr/bin/echo hi")
        assert not await manager.validate_command_execution(sandbox_id, "/usr/bin/id")
        assert not await manager.validate_file_operation(sandbox_id, "/etc/shadow")
        return plugin, await manager.get_security_report(sandbox_id)

    with corral.Host(home=home, audit=audit, policy=policy.admin_policy()) as host:
        plugin, report = asyncio.run(main(host))
        assert report["terminated"] and plugin.state == "unloaded"
        with pytest.raises(corral.PluginSuspended):
            plugin.call("run", ["/usr/bin/echo", "hi"])
    denied = audit.query(plugin="exec-plugin", kind="denied")
    assert len(denied) == 2 and all(e.details["layer"] == "compat" for e in denied)


def test_the_policy_as_an_admin_policy_clamps_every_tier():
    admin = seed_policy().admin_policy()
    assert admin.blocked_commands == ("kill", "rm", "sudo")
    assert all(spec.limits.memory_mb == 256 for spec in admin.tiers.values())


def test_network_policy_levels_and_host_lists_in_the_checks():
    async def verdicts(**changes):
        manager = SandboxManager(seed_policy(**changes))
        sandbox_id = await manager.create_sandbox()
        return [
            await manager.validate_network_access(sandbox_id, "127.0.0.1", 8080),
            await manager.validate_network_access(sandbox_id, "api.example.com", 443),
            await manager.validate_network_access(sandbox_id, "evil.example.com", 443),
        ]

    assert asyncio.run(verdicts()) == [False, False, False]  # NONE
    assert asyncio.run(verdicts(network_policy=NetworkPolicy.INTERNAL)) == [True, False, False]
    restricted = {"network_policy": NetworkPolicy.RESTRICTED, "blocked_hosts": {"evil.example.com"}}
    assert asyncio.run(verdicts(**restricted)) == [True, True, False]
    only = {**restricted, "allowed_hosts": {"api.example.com"}}
    assert asyncio.run(verdicts(**only)) == [False, True, False]
    assert asyncio.run(verdicts(network_policy=NetworkPolicy.FULL)) == [True, True, True]


def test_the_policy_caps_network_level_and_connections_for_every_tier():
    admin = seed_policy(
        network_policy=NetworkPolicy.INTERNAL,
        resource_limits=ResourceLimits(max_connections=4),
        blocked_hosts={"evil.example.com"},
    ).admin_policy()
    assert {spec.network for spec in admin.tiers.values()} == {"internal"}
    assert {spec.limits.max_connections for spec in admin.tiers.values()} == {4}
    assert [str(p) for p in admin.deny] == ["network:connect=evil.example.com:*"]


@pytest.fixture
def web():
    from tests._net import Web

    server = Web("127.0.0.1")
    yield server
    server.close()


@pytest.mark.pen
@pytest.mark.parametrize(
    ("changes", "reached"),
    [
        ({"network_policy": NetworkPolicy.RESTRICTED}, True),
        ({"network_policy": NetworkPolicy.NONE}, False),
        ({"network_policy": NetworkPolicy.RESTRICTED, "blocked_hosts": {"127.0.0.1"}}, False),
    ],
    ids=["restricted", "none", "blocked host"],
)
def test_the_pen_obeys_the_network_policy(home, audit, plugin_copy, web, changes, reached):
    """A plugin granted 127.0.0.1:PORT reaches it only when the seed's policy lets it."""
    policy = seed_policy(**changes)
    plugin_dir = plugin_copy("fixtures/kari_http", {"PORTA": str(web.port)})
    url = f"http://127.0.0.1:{web.port}/x"
    with corral.Host(home=home, audit=audit, policy=policy.admin_policy()) as host:
        manager = SandboxManager(policy, host=host)
        plugin = manager.plugin(asyncio.run(manager.create_sandbox(plugin_dir)))
        if reached:
            assert plugin.call("fetch_unchecked", url) == [200, "hello /x"]
        else:
            with pytest.raises(corral.PluginError):
                plugin.call("fetch_unchecked", url)
    assert web.connections == (1 if reached else 0)  # judged at the server, outside the pen
