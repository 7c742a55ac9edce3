"""``corral validate``: exit 0 with a grant summary, or exit 1 with every located error."""

import json
from pathlib import Path

from typer.testing import CliRunner

from corral.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
runner = CliRunner()


def invoke(*args, home):
    return runner.invoke(app, [*map(str, args), "--home", str(home)])


def test_a_valid_plugin_exits_0_with_what_it_is_granted(tmp_path):
    result = invoke("validate", EXAMPLES / "weather-report", home=tmp_path)
    assert result.exit_code == 0, result.output
    assert "valid: weather-report 1.2.0" in result.stdout
    assert "network:connect=api.weather.gov:443" in result.stdout


def test_cuts_are_shown_with_their_reasons(tmp_path):
    result = invoke("validate", EXAMPLES / "kari-extension", home=tmp_path)
    assert result.exit_code == 0
    assert "the community tier does not allow plugin:execute" in result.stdout
    assert "asked 512 MB is above the community tier ceiling of 100 MB" in result.stdout


def test_an_invalid_plugin_exits_1_with_every_issue_and_no_traceback(tmp_path):
    result = invoke("validate", EXAMPLES / "every-mistake", home=tmp_path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        "plugin.yaml:7 permissions[2]: unknown domain 'fiel'; did you mean 'file'?" in result.stderr
    )
    assert "invalid: 19 problem(s)" in result.stderr


def test_json_success(tmp_path):
    result = invoke("validate", EXAMPLES / "gao-example", "--json", home=tmp_path)
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["manifest"]["permissions"] == ["file:read", "file:write", "hook:register"]
    assert data["grant"]["tier"] == "community"
    assert data["grant"]["limits"]["memory_mb"] == 256


def test_json_failure(tmp_path):
    result = invoke("validate", EXAMPLES / "every-mistake", "--json", home=tmp_path)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert {
        "file": str(EXAMPLES / "every-mistake" / "plugin.yaml"),
        "line": 7,
        "field": "permissions[2]",
        "message": "unknown domain 'fiel'; did you mean 'file'?",
    } in data["errors"]


def test_a_missing_directory_is_an_error_not_a_traceback(tmp_path):
    result = invoke("validate", tmp_path / "absent", "--json", home=tmp_path)
    assert result.exit_code == 1
    assert "no manifest" in json.loads(result.stdout)["errors"][0]["message"]


def test_the_policy_option_and_the_homes_policy_apply(tmp_path):
    policy = tmp_path / "corral-policy.yaml"
    policy.write_text("plugins:\n  weather-report:\n    revoke: [env:read]\n")
    result = invoke(
        "validate", EXAMPLES / "weather-report", "--policy", policy, "--json", home=tmp_path
    )
    assert "env:read=TZ" not in json.loads(result.stdout)["grant"]["permissions"]
    (tmp_path / "policy.yaml").write_text(policy.read_text())
    result = invoke("validate", EXAMPLES / "weather-report", "--json", home=tmp_path)
    assert json.loads(result.stdout)["policy"] == str(tmp_path / "policy.yaml")
    assert "env:read=TZ" not in json.loads(result.stdout)["grant"]["permissions"]


def test_a_broken_policy_file_is_reported(tmp_path):
    policy = tmp_path / "bad.yaml"
    policy.write_text("tiers:\n  gold: {}\n")
    result = invoke("validate", EXAMPLES / "weather-report", "--policy", policy, home=tmp_path)
    assert result.exit_code == 1
    assert "unknown tier 'gold'" in result.stderr
