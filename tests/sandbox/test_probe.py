"""The probe: what ``corral doctor`` shows, and the fail-secure check the host runs before spawning.

The machine's real answers are checked where this machine's facts are known
(root, namespaces, Landlock, cgroup v1). Faking the probe's answers is done
only to reach the refusal path, which a machine that has every layer cannot
show otherwise; no barrier is tested that way.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan
from corral.sandbox import probe
from corral.sandbox.probe import LayerStatus
from tests.sandbox._forkrun import run

NAMESPACES = ("userns", "mountns", "pidns", "ipcns", "utsns", "netns")


def test_probe_reports_every_layer_with_its_requirement():
    names = [status.layer for status in probe.probe()]
    for expected in (
        "root",
        *NAMESPACES,
        "procfs",
        "landlock",
        "seccomp",
        "cgroups.memory",
        "cgroups.pids",
        "cgroups.cpu",
        "cgroups.v2",
        "limit.memory",
        "limit.processes",
        "network.none",
        "network.internal",
        "network.restricted",
        "network.full",
    ):
        assert expected in names
    assert all(status.requirement and status.detail for status in probe.probe())


def test_probe_is_computed_once_per_process():
    assert probe.probe() is probe.probe()


def test_probe_finds_this_machines_namespaces_by_trying_them():
    for layer in (*NAMESPACES, "procfs"):
        assert probe.status(layer).available, probe.status(layer)


def test_probe_reports_how_each_network_level_is_enforced_here():
    """Derived from the namespace, Landlock and seccomp probes: the netns carries three levels."""
    for level in ("none", "internal", "restricted"):
        status = probe.status(f"network.{level}")
        assert status.available == probe.status("netns").available
        assert "netns" in status.requirement
    restricted = probe.status("network.restricted").detail
    assert "proxy" in restricted and "47128" in restricted
    assert "Landlock ABI" in restricted
    assert probe.status("network.full").available


@pytest.mark.skipif(os.geteuid() != 0, reason="the machine's root view")
def test_probe_as_root_offers_cgroups_as_the_memory_and_process_limit():
    assert probe.status("root").available
    assert probe.status("cgroups.memory").available
    assert "cgroup" in probe.status("limit.memory").detail
    assert "pids.max" in probe.status("limit.processes").detail


@pytest.mark.skipif(os.geteuid() != 0, reason="drops from root to nobody")
def test_probe_as_an_ordinary_user_falls_back_to_rlimits():
    def as_nobody(_):
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        probe.probe.cache_clear()  # the parent's answers were inherited with the fork
        return [dataclasses.asdict(s) for s in probe.probe()]

    statuses = {s["layer"]: s for s in run(as_nobody).value}
    assert not statuses["root"]["available"]
    assert statuses["userns"]["available"] and statuses["procfs"]["available"]
    assert not statuses["cgroups.memory"]["available"]
    assert statuses["limit.memory"]["detail"].startswith("RLIMIT_AS fallback")
    assert statuses["limit.processes"]["detail"].startswith("RLIMIT_NPROC fallback")


def test_allow_require_accepts_a_full_plan_on_this_machine():
    probe.require(EnforcementPlan(memory_mb=64, processes=8, cgroup_name="w"))


@pytest.fixture
def lacking(monkeypatch):
    """Make the probe report ``layers`` as unavailable (the refusal path only)."""

    def lack(*layers: str) -> None:
        real = probe.probe()
        faked = tuple(
            dataclasses.replace(s, available=False, detail="switched off for this test")
            if s.layer in layers
            else s
            for s in real
        )
        monkeypatch.setattr(probe, "probe", lambda: faked)

    return lack


def test_deny_require_refuses_a_plan_needing_a_missing_layer(lacking):
    lacking("netns")
    with pytest.raises(SandboxUnavailable) as caught:
        probe.require(EnforcementPlan())
    assert caught.value.layer == "netns"
    assert "CONFIG_NET_NS" in str(caught.value)


@pytest.mark.parametrize(
    "plan",
    [
        EnforcementPlan(disabled_layers=frozenset({"netns"})),
        EnforcementPlan(network="full"),
    ],
    ids=["netns-off", "network-full"],
)
def test_allow_require_ignores_a_missing_layer_the_plan_does_not_use(lacking, plan):
    lacking("netns")
    probe.require(plan)


def test_deny_require_refuses_a_cgroup_plan_without_the_controller(lacking):
    lacking("cgroups.memory")
    probe.require(EnforcementPlan(memory_mb=64))  # no cgroup asked for: the rlimit fallback
    with pytest.raises(SandboxUnavailable) as caught:
        probe.require(EnforcementPlan(memory_mb=64, cgroup_name="w"))
    assert caught.value.layer == "cgroups"


def test_deny_require_refuses_a_fresh_proc_it_cannot_mount(lacking):
    lacking("procfs")
    with pytest.raises(SandboxUnavailable) as caught:
        probe.require(EnforcementPlan())
    assert caught.value.layer == "pidns"
    assert "mount_too_revealing" in str(caught.value)


def test_layer_status_is_a_frozen_value():
    status = LayerStatus("x", True, "d", "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.available = False  # type: ignore[misc]
