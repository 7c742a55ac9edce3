"""bandit, merged: its findings marked as bandit's, in-source nosec ignored."""

import pytest

from corral.manifest import load_manifest
from corral.policy import default_policy
from corral.vetting import to_sarif, vet_plugin
from corral.vetting.bandit import bandit_command, run_bandit

pytestmark = pytest.mark.skipif(bandit_command() is None, reason="bandit is not installed")


def test_bandit_findings_are_marked_and_nosec_is_ignored(bad):
    found = run_bandit(bad)
    assert found and all(f.tool == "bandit" and f.rule.startswith("B") for f in found)
    # dynamic.py line 9 carries `# nosec`: bandit honours it unless told not to
    assert ("dynamic.py", 9) in {(f.path, f.line) for f in found}


def test_merged_findings_get_their_own_sarif_run(bad):
    extra = tuple(run_bandit(bad))
    report = vet_plugin(bad, load_manifest(bad), default_policy(), "community", extra=extra)
    runs = to_sarif(report)["runs"]
    assert [r["tool"]["driver"]["name"] for r in runs] == ["corral", "bandit"]
    assert len(runs[1]["results"]) == len(extra)
