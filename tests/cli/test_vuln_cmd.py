"""``corral vuln``: reports recorded in the home's corral.db, audited, and the score's gate."""

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from corral.audit import open_store
from corral.cli.app import app

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
GOOD = PLUGINS / "good"
runner = CliRunner()


def invoke(*args, home):
    return runner.invoke(app, ["vuln", *map(str, args), "--home", str(home)])


def audit(home):
    """The events the CLI recorded in the home's audit store, as dicts."""
    store = open_store(str(home / "corral.db"))
    try:
        return [e.to_dict() for e in store.query()]
    finally:
        store.close()


def test_report_list_resolve_round_trip_with_audit(tmp_path):
    result = invoke("report", "good-notes", "--version", "1.0.0", "--severity", "high",
                    "--id", "CVE-2026-0100", "--fixed-in", "1.0.2", home=tmp_path)
    assert result.exit_code == 0, result.output
    assert "recorded CVE-2026-0100 (high) against good-notes 1.0.0, fixed in 1.0.2" in result.stdout
    rows = sqlite3.connect(tmp_path / "corral.db").execute(
        "SELECT plugin, vuln_id, status FROM vuln_reports").fetchall()
    assert rows == [("good-notes", "CVE-2026-0100", "open")]

    listed = json.loads(invoke("list", "--json", home=tmp_path).stdout)
    assert [r["vuln_id"] for r in listed["reports"]] == ["CVE-2026-0100"]

    assert invoke("resolve", "good-notes", "--id", "CVE-2026-0100", home=tmp_path).exit_code == 0
    assert json.loads(invoke("list", "--json", home=tmp_path).stdout)["reports"] == []
    assert len(json.loads(invoke("list", "--all", "--json", home=tmp_path).stdout)["reports"]) == 1
    events = audit(tmp_path)
    assert [e["kind"] for e in events] == ["vuln.reported", "vuln.resolved"]
    assert all(e["details"]["by"] == "cli" and e["details"]["user"] for e in events)


def test_a_critical_report_disables_until_the_fixed_version(tmp_path):
    invoke("report", "good-notes", "--version", "0.9.0", "--severity", "critical",
           "--id", "CVE-2026-0200", "--fixed-in", "1.0.0", home=tmp_path)
    fixed = invoke("score", GOOD, "--json", home=tmp_path)
    assert fixed.exit_code == 0
    assert json.loads(fixed.stdout)["action"] == "allow"

    invoke("report", "good-notes", "--version", "0.9.0", "--severity", "critical",
           "--id", "CVE-2026-0200", "--fixed-in", "1.1.0", home=tmp_path)
    result = invoke("score", GOOD, "--json", home=tmp_path)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["action"], data["score"], data["reports"]) == ("disable", 100, ["CVE-2026-0200"])
    assert audit(tmp_path)[-1]["kind"] == "vuln.gate"


def test_mistakes_are_one_clear_line(tmp_path):
    result = invoke("report", "p", "--version", "1.0.0", "--severity", "severe", "--id", "X-1",
                    home=tmp_path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "severity 'severe' is not one of low, medium, high, critical" in result.stderr
    missing = invoke("resolve", "p", "--id", "CVE-0", home=tmp_path)
    assert missing.exit_code == 1 and "no report CVE-0 against plugin 'p'" in missing.stderr
