"""Host.load vets the stored bytes between store and grant: informing by default, blocking by policy."""

from __future__ import annotations

import pytest

import corral
from corral.audit import MemorySink
from corral.errors import VettingError
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

    assert "uses os.system at attacks.py:184 but plugin.yaml grants no subprocess:execute" in str(
        info.value
    )
    assert not audit.query(kind="worker.started")
    assert any(e.decision == "deny" for e in audit.query(kind="vetting.finding"))
    (refused,) = audit.query(kind="plugin.refused")
    assert "attacks.py:184" in refused.details["error"]
