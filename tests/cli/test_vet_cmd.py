"""``corral vet``: exit 0 for clean code, 1 when something blocks or is undeclared."""

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from corral.cli.app import app

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
BAD = PLUGINS / "fixtures" / "vetting_bad"
GOOD = PLUGINS / "good"
runner = CliRunner()


def invoke(*args, home):
    return runner.invoke(app, ["vet", *map(str, args), "--home", str(home)])


def recommended(tmp_path: Path) -> Path:
    """A policy.yaml that turns on the blocking docs/administrators.md recommends."""
    policy = tmp_path / "recommended.yaml"
    policy.write_text(
        "vetting:\n  block: {community: [high, critical], professional: [critical],"
        " enterprise: [critical]}\n"
    )
    return policy


def test_findings_inform_by_default_and_undeclared_uses_still_exit_1(tmp_path):
    result = invoke(BAD, home=tmp_path)
    assert result.exit_code == 1
    assert "blocked in tier" not in result.stdout
    assert "uses os.system at process.py:14 but plugin.yaml grants no subprocess:execute" in (
        result.stdout
    )


def test_a_clean_plugin_exits_0(tmp_path):
    result = invoke(GOOD, home=tmp_path)
    assert result.exit_code == 0, result.output
    assert "good-notes 1.0.0: 4 file(s), 0 finding(s)" in result.stdout


def test_findings_that_block_exit_1_with_located_errors(tmp_path):
    result = invoke(BAD, "--policy", recommended(tmp_path), home=tmp_path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "uses os.system at process.py:14 but plugin.yaml grants no subprocess:execute" in (
        result.stdout
    )
    assert "blocked in tier community" in result.stdout


def test_undeclared_use_alone_exits_1(tmp_path):
    plugin = tmp_path / "p"
    plugin.mkdir()
    (plugin / "plugin.yaml").write_text("name: p\nversion: 1.0.0\nentry: tool\n")
    (plugin / "tool.py").write_text("import os\n\ndef wipe(p):\n    os.remove(p)\n")
    result = invoke(plugin, home=tmp_path)
    assert result.exit_code == 1
    assert "uses os.remove at tool.py:4 but plugin.yaml grants no file:delete" in result.stdout
    (plugin / "plugin.yaml").write_text(
        "name: p\nversion: 1.0.0\nentry: tool\npermissions: ['file:delete=$WORK/**']\n"
    )
    assert invoke(plugin, home=tmp_path).exit_code == 0


def test_json_and_sarif_are_one_document_on_stdout(tmp_path):
    policy = recommended(tmp_path)
    data = json.loads(invoke(BAD, "--format", "json", "--policy", policy, home=tmp_path).stdout)
    assert data["tier"] == "community" and data["blocked"]
    sarif = json.loads(invoke(BAD, "--format", "sarif", home=tmp_path).stdout)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"]


def test_policy_and_tier_decide_what_blocks(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("vetting:\n  block_undeclared: []\n  block:\n    enterprise: []\n")
    result = invoke(BAD, "--tier", "enterprise", "--policy", policy, "--format", "json", home=tmp_path)
    data = json.loads(result.stdout)
    assert not data["blocked"]
    assert result.exit_code == 1  # undeclared uses are still errors for the author


def test_a_bad_policy_is_one_located_line_not_a_traceback(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("vetting:\n  suppressions:\n    - plugin: x\n      rule: eval\n")
    result = invoke(GOOD, "--policy", policy, home=tmp_path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "is not a rule id like CRL101" in result.stderr


def test_bandit_missing_is_said_plainly(tmp_path, monkeypatch):
    import corral.vetting.bandit as bandit

    monkeypatch.setattr(bandit.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(bandit.shutil, "which", lambda name: None)
    result = invoke(GOOD, "--bandit", home=tmp_path)
    assert result.exit_code == 0
    assert "bandit is not installed" in result.stderr


def test_bandit_findings_are_merged_when_installed(tmp_path):
    if shutil.which("bandit") is None:
        import importlib.util

        assert importlib.util.find_spec("bandit") is not None, "bandit is in the dev extra"
    data = json.loads(invoke(BAD, "--bandit", "--format", "json", home=tmp_path).stdout)
    assert {f["tool"] for f in data["findings"]} == {"corral", "bandit"}
