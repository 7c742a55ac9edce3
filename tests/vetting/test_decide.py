"""The load-time decision: vet, record every finding, refuse when policy says so."""

from pathlib import Path

import pytest

from corral.errors import VettingError
from corral.manifest import load_manifest
from corral.policy import AdminPolicy
from corral.vetting import check_plugin
from tests.vetting.conftest import blocking_policy


class Recorded:
    def __init__(self):
        self.events = []

    def __call__(self, kind, plugin, version, decision, details):
        self.events.append((kind, plugin, version, decision, details))


def test_a_clean_plugin_passes_and_records_nothing(good):
    record = Recorded()
    report = check_plugin(good, load_manifest(good), blocking_policy(), "community", record=record)
    assert report.findings == ()
    assert record.events == []


def test_a_blocked_plugin_raises_with_the_first_findings_and_records_them_all(bad):
    record = Recorded()
    with pytest.raises(VettingError) as info:
        check_plugin(bad, load_manifest(bad), blocking_policy(), "community", record=record)
    message = str(info.value)
    assert message.startswith("plugin 'vetting-bad' 1.0.0 is blocked by vetting in tier community")
    assert "deserialise.py:11:5: CRL601 [high]" in message
    assert "corral vet shows them all" in message
    kinds = {e[0] for e in record.events}
    assert kinds == {"vetting.finding"}
    denied = [e for e in record.events if e[3] == "deny"]
    assert denied and all(e[1:3] == ("vetting-bad", "1.0.0") for e in record.events)
    assert {"rule", "path", "line", "fingerprint", "undeclared"} <= set(denied[0][4])


def test_policy_can_let_the_same_plugin_load(bad):
    lenient = AdminPolicy.from_dict(
        {"vetting": {"block": {"community": []}, "block_undeclared": []}}
    )
    report = check_plugin(bad, load_manifest(bad), lenient, "community")
    assert report.findings and report.blocking(lenient, "community") == []


def test_suppressing_every_blocking_finding_lets_it_load(bad):
    manifest = load_manifest(bad)
    with pytest.raises(VettingError):
        check_plugin(bad, manifest, blocking_policy(), "professional")
    from corral.vetting import vet_plugin

    report = vet_plugin(bad, manifest, blocking_policy(), "professional")
    entries = [
        {"plugin": "vetting-bad", "rule": f.rule, "version": "1.0.0", "fingerprint": f.fingerprint}
        for f in report.blocking(blocking_policy(), "professional")
    ]
    policy = AdminPolicy.from_dict({"vetting": {"suppressions": entries}})
    check_plugin(bad, manifest, policy, "professional")


def test_results_are_cached_by_digest_and_policy_still_applies(tmp_path):
    from corral.vetting import VettingCache, vet_plugin

    plugin = tmp_path / "p"
    plugin.mkdir()
    (plugin / "plugin.yaml").write_text("name: p\nversion: 1.0.0\nentry: tool\n")
    (plugin / "tool.py").write_text("import pickle\npickle.loads(b'')\n")
    manifest = load_manifest(plugin)
    cache = VettingCache(tmp_path / "corral.db")
    first = vet_plugin(plugin, manifest, blocking_policy(), "community", digest="d1", cache=cache)
    # Same digest means same bytes: the cached verdict is used, not the edited file.
    (plugin / "tool.py").write_text("x = 1\n")
    again = vet_plugin(plugin, manifest, blocking_policy(), "community", digest="d1", cache=cache)
    assert [f.rule for f in again.findings] == [f.rule for f in first.findings] == ["CRL601"]
    assert again.files == first.files
    # Suppressions are applied after the cache, on every load.
    (finding,) = first.findings
    policy = AdminPolicy.from_dict(
        {"vetting": {"suppressions": [{"plugin": "p", "rule": "CRL601",
                                       "fingerprint": finding.fingerprint}]}}
    )
    assert vet_plugin(plugin, manifest, policy, "community", digest="d1", cache=cache).findings == ()
    # Another digest is vetted afresh.
    assert vet_plugin(plugin, manifest, blocking_policy(), "community", digest="d2",
                      cache=cache).findings == ()


def test_seed_003s_malicious_fixture_is_refused_before_it_runs():
    from tests.vetting.conftest import PLUGINS

    malicious = PLUGINS / "fixtures" / "malicious_plugin"
    with pytest.raises(VettingError) as info:
        check_plugin(malicious, load_manifest(malicious), blocking_policy(), "community")
    assert f"uses os.system at attacks.py:{_os_system_line()} but plugin.yaml grants no subprocess:execute" in str(
        info.value
    )


def _os_system_line() -> int:
    """Where the fixture calls os.system: findings name file:line, and the fixture grows."""
    source = Path(__file__).resolve().parents[1] / "plugins/fixtures/malicious_plugin/attacks.py"
    lines = source.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if "return os.system(" in text)
