"""Seed 001's ExtensionSecurityManager and SandboxExecutor, in Python spelling, as the seed uses them."""

from __future__ import annotations

import asyncio
import os

import pytest

import corral
from corral.compat.seed001 import (
    ExtensionPermission,
    ExtensionSecurityManager,
    ExtensionTier,
    SandboxExecutor,
    SecurityLevel,
)
from tests.plugins.fixtures.machshop_extension import analytics


def seed_context(**changes):
    """The seed's registration example, camelCase keys and all."""
    context = {
        "extensionId": "ext-analytics-001",
        "extensionName": "Analytics Dashboard",
        "extensionVersion": "1.0.0",
        "publisherId": "publisher-abc",
        "tier": ExtensionTier.PROFESSIONAL,
        "grantedPermissions": [
            ExtensionPermission.READ_WORK_ORDERS,
            ExtensionPermission.READ_QUALITY_DATA,
            ExtensionPermission.GENERATE_REPORTS,
            ExtensionPermission.ACCESS_ANALYTICS,
        ],
        "deniedPermissions": [],
        "codeSignature": "sig_12345...",
        "codeSigningCert": {},
        "integrityHash": "hash_abc...",
        "signatureVerified": True,
        "memoryLimit": 512,
        "cpuLimit": 50,
        "diskQuota": 500,
        "timeoutMs": 120000,
        "networkWhitelist": ["api.example.com", "*.analytics.com"],
        "fileAccessPaths": ["/extensions/ext-analytics-001/data/*"],
        "auditLevel": SecurityLevel.INTERNAL,
        "securityReviewStatus": "APPROVED",
        "vulnerabilityScore": 15,
        "isolationLevel": "PARTIAL",
    }
    return {**context, **changes}


def test_register_and_enforce_the_seeds_example():
    manager = ExtensionSecurityManager()
    manager.register_extension(seed_context())
    result = manager.enforce_security_context("ext-analytics-001")
    assert result == {
        "allowed": True,
        "reason": "all security policies satisfied",
        "violated_policies": [],
    }


def test_enforce_names_every_violated_policy():
    manager = ExtensionSecurityManager()
    manager.register_extension(
        seed_context(
            tier=ExtensionTier.COMMUNITY,
            grantedPermissions=[ExtensionPermission.WRITE_WORK_ORDERS],
            signatureVerified=False,
            vulnerabilityScore=80,
        )
    )
    result = manager.enforce_security_context("ext-analytics-001")
    assert not result["allowed"]
    violated = " | ".join(result["violated_policies"])
    assert (
        "WRITE_WORK_ORDERS (work_orders:write) is not available to the community tier" in violated
    )
    assert "memory_limit 512 exceeds the community ceiling 256" in violated
    assert "vulnerability score 80 exceeds 50" in violated
    assert result["reason"] == "; ".join(result["violated_policies"])
    denied = [e for e in manager.audit.query(plugin="ext-analytics-001") if e.decision == "deny"]
    assert denied


def test_unregistered_and_unknown_permissions_are_refused():
    manager = ExtensionSecurityManager()
    assert not manager.enforce_security_context("nobody")["allowed"]
    with pytest.raises(ValueError, match="FROB_WIDGETS"):
        manager.register_extension(seed_context(grantedPermissions=["FROB_WIDGETS"]))


def test_check_permission_with_hierarchy_and_denials():
    manager = ExtensionSecurityManager()
    manager.register_extension(
        seed_context(
            grantedPermissions=[ExtensionPermission.WRITE_WORK_ORDERS],
            deniedPermissions=[ExtensionPermission.WRITE_QUALITY_DATA],
        )
    )
    assert manager.check_permission("ext-analytics-001", ExtensionPermission.READ_WORK_ORDERS)
    assert manager.check_permission("ext-analytics-001", ExtensionPermission.WRITE_WORK_ORDERS)
    assert not manager.check_permission("ext-analytics-001", ExtensionPermission.DELETE_WORK_ORDERS)
    assert not manager.check_permission("ext-analytics-001", "WRITE_QUALITY_DATA")
    assert not manager.check_permission("unknown", ExtensionPermission.READ_WORK_ORDERS)


def test_record_resource_usage_flags_breaches():
    manager = ExtensionSecurityManager()
    manager.register_extension(seed_context())
    breaches = manager.record_resource_usage(
        {
            "extensionId": "ext-analytics-001",
            "memoryUsedMB": 600,
            "cpuPercentage": 20,
            "diskUsedMB": 10,
            "networkBytesOut": 0,
            "networkBytesIn": 0,
            "executionTimeMs": 500,
            "requestCount": 1,
            "errorCount": 0,
        }
    )
    assert breaches == ["memory MB 600 over 512"]
    [record] = manager.get_resource_usage("ext-analytics-001")
    assert record.memory_used_mb == 600


pen = pytest.mark.pen


def community_executor(host, manager, **config):
    context = seed_context(
        tier=ExtensionTier.COMMUNITY, memoryLimit=256, cpuLimit=25, diskQuota=100, timeoutMs=30000
    )
    manager.register_extension(context)
    return SandboxExecutor("ext-analytics-001", context, manager, config, host=host)


@pen
def test_execute_with_sandbox_runs_the_extension_in_a_pen(host):
    manager = ExtensionSecurityManager()
    executor = community_executor(
        host, manager, isolationLevel="FULL", memoryLimitMB=128, enableNetworking=False
    )
    result = asyncio.run(executor.execute_with_sandbox(analytics.extension_function))
    assert result["report"] == "throughput" and result["pid"] != os.getpid()
    assert asyncio.run(
        executor.execute_with_sandbox(analytics.async_extension_function, [1, 2, 3])
    ) == {"orders": 3}
    usage = executor.get_resource_usage()
    assert usage.memory_used_mb > 0 and usage.execution_time_ms > 0
    assert len(manager.get_resource_usage("ext-analytics-001")) == 2
    assert host.plugins() == []  # each execution's pen is gone


@pen
def test_execute_with_sandbox_refuses_a_context_that_breaks_policy(host):
    manager = ExtensionSecurityManager()
    manager.register_extension(seed_context(vulnerabilityScore=99))
    executor = SandboxExecutor("ext-analytics-001", seed_context(), manager, host=host)
    with pytest.raises(corral.PermissionDenied, match="vulnerability score 99"):
        executor.execute_with_sandbox_sync(analytics.extension_function)
    assert host.plugins() == []


@pen
def test_the_extension_cannot_read_outside_its_paths(host, outside):
    manager = ExtensionSecurityManager()
    executor = community_executor(host, manager)
    with pytest.raises(corral.PermissionDenied):
        executor.execute_with_sandbox_sync(analytics.read_file, str(outside / "secret.txt"))
    assert manager.get_resource_usage("ext-analytics-001")[-1].error_count == 1
