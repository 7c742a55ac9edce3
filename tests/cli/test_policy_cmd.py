"""``corral policy show``: each declared permission's fate and reason, limits against ceilings."""

import json
from pathlib import Path

from typer.testing import CliRunner

from corral.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plugins"
runner = CliRunner()


def show(name, *extra, home):
    return runner.invoke(
        app, ["policy", "show", str(EXAMPLES / name), "--home", str(home), *map(str, extra)]
    )


def test_every_declared_permission_has_an_outcome_and_a_reason(tmp_path):
    result = show("kari-extension", "--json", home=tmp_path)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["declared"] == [
        {"permission": "data:read", "outcome": "granted", "reason": "declared"},
        {
            "permission": "data:write",
            "outcome": "narrowed",
            "reason": "the community tier does not allow data:write; narrowed to data:read",
        },
        {
            "permission": "plugin:execute",
            "outcome": "dropped",
            "reason": "the community tier does not allow plugin:execute",
        },
        {
            "permission": "file:read",
            "outcome": "expanded",
            "reason": "means file:read=**, file:read=$WORK/**",
        },
        {"permission": "file:write", "outcome": "expanded", "reason": "means file:write=$WORK/**"},
        {
            "permission": "system:logs",
            "outcome": "dropped",
            "reason": "the community tier does not allow system:logs",
        },
    ]
    assert data["ceilings"]["disk_mb"] == 100


def test_text_output_for_people(tmp_path):
    result = show("weather-report", home=tmp_path)
    assert result.exit_code == 0
    assert "policy: built-in defaults" in result.stdout
    assert "file:read=data/secrets/**" in result.stdout  # the deny in force
    assert "memory_mb" in result.stdout


def test_admin_rules_and_notes_are_shown(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("blocked_commands: [rm]\nplugins:\n  weather-report:\n    tier: community\n")
    result = show("weather-report", "--policy", policy, home=tmp_path)
    assert "blocked commands: rm" in result.stdout


def test_an_invalid_manifest_exits_1(tmp_path):
    result = show("every-mistake", "--json", home=tmp_path)
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)["errors"]) == 19
