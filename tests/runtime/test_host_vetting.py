"""Host.load vets the stored bytes between store and grant: informing by default, blocking by policy."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import corral
from corral.audit import MemorySink
from corral.errors import VettingError
from corral.policy import AdminPolicy
from corral.vetting.vulns import VulnStore
from tests.conftest import SABOTAGE
from tests.vetting.conftest import PLUGINS, blocking_policy

pytestmark = pytest.mark.pen

MALICIOUS = PLUGINS / "fixtures" / "malicious_plugin"


def test_by_default_findings_are_recorded_and_the_plugin_still_runs_in_its_pen(home):
    audit = MemorySink()
    with corral.Host(home=home, audit=audit, unsafe_disable_layers=SABOTAGE) as host:
        plugin = host.load(MALICIOUS)
        assert plugin.callables

    findings = audit.query(kind="vetting.finding")
    assert findings and all(e.decision == "info" for e in findings)
    located = {(e.details["path"], e.details["rule"]) for e in findings}
    assert ("attacks.py", "CRL201") in located
    assert audit.query(kind="plugin.loaded")


def test_a_blocking_policy_refuses_before_any_worker_starts(home):
    audit = MemorySink()
    with corral.Host(
        home=home, audit=audit, policy=blocking_policy(), unsafe_disable_layers=SABOTAGE
    ) as host:
        with pytest.raises(VettingError) as info:
            host.load(MALICIOUS)
        assert host.plugins() == []

    assert f"uses os.system at attacks.py:{_os_system_line()} but plugin.yaml grants no subprocess:execute" in str(
        info.value
    )
    assert not audit.query(kind="worker.started")
    assert any(e.decision == "deny" for e in audit.query(kind="vetting.finding"))
    (refused,) = audit.query(kind="plugin.refused")
    assert f"attacks.py:{_os_system_line()}" in refused.details["error"]


# --- seed 001's vulnerability cycle at load -------------------------------------------------


def _versioned(tmp_path, version):
    """The good fixture plugin at ``version`` (a copy, so the manifest can say so)."""
    import shutil

    target = tmp_path / f"good-{version}"
    shutil.copytree(PLUGINS / "good", target)
    manifest = target / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.0.0", f"version: {version}"))
    return target


def test_a_critical_report_disables_the_affected_version_until_a_fixed_one(home, tmp_path):
    VulnStore(home / "corral.db").report(
        "good-notes", "1.0.0", "critical", "CVE-2026-0001", fixed_in="1.1.0"
    )
    audit = MemorySink()
    with corral.Host(home=home, audit=audit, unsafe_disable_layers=SABOTAGE) as host:
        with pytest.raises(VettingError, match="CVE-2026-0001"):
            host.load(_versioned(tmp_path, "1.0.0"))
        assert not audit.query(kind="worker.started")  # nothing of it ran
        fixed = host.load(_versioned(tmp_path, "1.1.0"))
        assert fixed.call("cities")  # the fixed version runs
    (gate,) = audit.query(kind="vuln.gate")
    assert gate.decision == "deny" and gate.version == "1.0.0"


def test_a_score_over_the_maximum_is_flagged_and_still_loads(home, tmp_path):
    policy = AdminPolicy.from_dict({"vulnerabilities": {"max_score": 0}})
    VulnStore(home / "corral.db").report("good-notes", "1.0.0", "low", "CVE-2026-0002")
    audit = MemorySink()
    with corral.Host(home=home, audit=audit, policy=policy, unsafe_disable_layers=SABOTAGE) as h:
        assert h.load(_versioned(tmp_path, "1.0.0")).call("cities")
    (gate,) = audit.query(kind="vuln.gate")
    assert gate.decision == "info" and gate.details["action"] == "refuse"


# --- the isolation a tier requires ------------------------------------------------------------


def test_a_tier_that_requires_containers_is_refused_on_a_kernel_host(home):
    policy = AdminPolicy.from_dict({"plugins": {"good-notes": {"isolation": "container"}}})
    audit = MemorySink()
    with corral.Host(home=home, audit=audit, policy=policy, unsafe_disable_layers=SABOTAGE) as h:
        with pytest.raises(corral.SandboxUnavailable, match="isolation='container'"):
            h.load(PLUGINS / "good")
    assert not audit.query(kind="worker.started")
    (refused,) = audit.query(kind="plugin.refused")
    assert "container" in refused.details["error"]


def test_a_tier_that_requires_containers_is_refused_when_the_engine_is_unreachable(home):
    """Given a ContainerConfig, a kernel host runs such plugins in containers; no engine: refused."""
    policy = AdminPolicy.from_dict({"tiers": {"community": {"isolation": "container"}}})
    audit = MemorySink()
    nowhere = corral.ContainerConfig(socket=f"/run/corral-no-engine-{uuid.uuid4().hex}.sock")
    with corral.Host(home=home, audit=audit, policy=policy, container=nowhere) as h:
        with pytest.raises(corral.SandboxUnavailable, match="no docker engine answers"):
            h.load(PLUGINS / "good")
        assert h.plugins() == []
    assert not audit.query(kind="worker.started")
    (refused,) = audit.query(kind="plugin.refused")
    assert "no docker engine answers" in refused.details["error"]


def _os_system_line() -> int:
    """Where the fixture calls os.system: findings name file:line, and the fixture grows."""
    source = Path(__file__).resolve().parents[1] / "plugins/fixtures/malicious_plugin/attacks.py"
    lines = source.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if "return os.system(" in text)
