"""Seed spellings load unchanged and come out canonical; errors still point at the source."""

import pytest

from corral.manifest.aliases import normalise, permission_text


@pytest.mark.parametrize(
    ("seed", "canonical"),
    [
        ("network:request", "network:connect"),  # seed 003
        ("NETWORK_REQUEST", "network:connect"),  # seed 003's enum name
        ("FILE_READ", "file:read"),
        ("filesystem.read", "file:read"),  # seed 002
        ("filesystem.write=/tmp/output", "file:write=/tmp/output"),
        ("network.http", "network:connect"),
        ("network.socket", "network:connect"),
        ("system.subprocess", "subprocess:execute"),
        ("environment.read", "env:read"),
        ("READ_WORK_ORDERS", "work_orders:read"),  # seed 001
        ("WRITE_QUALITY_DATA", "quality_data:write"),
        ("DELETE_WORK_ORDERS", "work_orders:delete"),
        ("GENERATE_REPORTS", "reports:generate"),
        ("EXTERNAL_API_CALLS", "network:connect"),
        ("FILE_UPLOAD", "file_transfer:upload"),
        ("file:read=data/**", "file:read=data/**"),  # canonical stays canonical
    ],
)
def test_seed_spellings(seed, canonical):
    assert permission_text(seed) == canonical


def test_an_unknown_constant_is_reported_at_its_source():
    out = normalise({"permissions": ["file:read", "FROBNICATE_ALL", "data:read"]})
    assert out.data["permissions"] == ["file:read", "data:read"]
    assert out.issues == [(("permissions", 1), "unknown permission constant 'FROBNICATE_ALL'")]
    assert out.origin(("permissions", 1)) == ("permissions", 2)


def test_seed_002_capabilities_with_options():
    out = normalise(
        {"permissions": [{"name": "filesystem.write", "options": {"path": "/tmp/output"}}]}
    )
    assert out.data["permissions"] == ["file:write=/tmp/output"]


def test_seed_000_nested_permissions_and_resources():
    out = normalise(
        {
            "permissions": {
                "data_access": ["read", "write"],
                "plugin_access": ["execute"],
                "system_access": ["files", "logs"],
                "network_access": ["external"],
            },
            "resources": {"max_memory_mb": 256, "max_cpu_percent": 15, "max_disk_mb": 512},
        }
    )
    assert out.data["permissions"] == [
        "data:read",
        "data:write",
        "plugin:execute",
        "file:read",
        "file:write",
        "system:logs",
    ]
    assert out.data["network"] == "restricted"
    assert out.data["limits"] == {"memory_mb": 256, "cpu_percent": 15, "disk_mb": 512}
    assert out.origin(("permissions", 4)) == ("permissions", "system_access", 0)
    assert out.origin(("limits", "disk_mb")) == ("resources", "max_disk_mb")


def test_seed_000_internal_network_and_an_explicit_level_wins():
    assert (
        normalise({"permissions": {"network_access": ["internal"]}}).data["network"] == "internal"
    )
    both = normalise({"permissions": {"network_access": ["external", "internal"]}})
    assert both.data["network"] == "restricted"
    explicit = normalise({"network": "none", "permissions": {"network_access": ["external"]}})
    assert explicit.data["network"] == "none"


def test_limit_names_of_seeds_002_and_004():
    out = normalise(
        {"limits": {"max_cpu_seconds": 10, "max_wall_time_seconds": 60, "max_processes": 4}}
    )
    assert out.data["limits"] == {"cpu_seconds": 10, "call_timeout_seconds": 60, "processes": 4}
