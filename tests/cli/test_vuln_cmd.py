"""``corral vuln``: reports recorded in the home's corral.db, audited, and the score's gate."""

import json
import shutil
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from corral import last_vuln_check
from corral.audit import open_store
from corral.cli.app import app
from corral.runtime.lifecycle import SqliteLifecycleStore as LifecycleStore
from corral.trust import TrustState

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
    result = invoke(
        "report",
        "good-notes",
        "--version",
        "1.0.0",
        "--severity",
        "high",
        "--id",
        "CVE-2026-0100",
        "--fixed-in",
        "1.0.2",
        home=tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "recorded CVE-2026-0100 (high) against good-notes 1.0.0, fixed in 1.0.2" in result.stdout
    rows = (
        sqlite3.connect(tmp_path / "corral.db")
        .execute("SELECT plugin, vuln_id, status FROM vuln_reports")
        .fetchall()
    )
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
    invoke(
        "report",
        "good-notes",
        "--version",
        "0.9.0",
        "--severity",
        "critical",
        "--id",
        "CVE-2026-0200",
        "--fixed-in",
        "1.0.0",
        home=tmp_path,
    )
    fixed = invoke("score", GOOD, "--json", home=tmp_path)
    assert fixed.exit_code == 0
    assert json.loads(fixed.stdout)["action"] == "allow"

    invoke(
        "report",
        "good-notes",
        "--version",
        "0.9.0",
        "--severity",
        "critical",
        "--id",
        "CVE-2026-0200",
        "--fixed-in",
        "1.1.0",
        home=tmp_path,
    )
    result = invoke("score", GOOD, "--json", home=tmp_path)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["action"], data["score"], data["reports"]) == ("disable", 100, ["CVE-2026-0200"])
    assert audit(tmp_path)[-1]["kind"] == "vuln.gate"


def test_mistakes_are_one_clear_line(tmp_path):
    result = invoke(
        "report", "p", "--version", "1.0.0", "--severity", "severe", "--id", "X-1", home=tmp_path
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "severity 'severe' is not one of low, medium, high, critical" in result.stderr
    missing = invoke("resolve", "p", "--id", "CVE-0", home=tmp_path)
    assert missing.exit_code == 1 and "no report CVE-0 against plugin 'p'" in missing.stderr


def test_vuln_check_rescores_installed_plugins_and_status_says_when_it_ran(tmp_path):
    status = json.loads(invoke("check", "--status", "--json", home=tmp_path).stdout)
    assert status["last_check"] is None and status["next_due"] is None  # nothing installed

    TrustState(tmp_path / "corral.db").record_install(
        "good-notes", "1.0.0", _stored(tmp_path), "", pin=False, envelope_sha256="", now=1000.0
    )
    status = json.loads(invoke("check", "--status", "--json", home=tmp_path).stdout)
    assert status["overdue"] and status["next_due"] == 1000.0 + 30 * 86400

    invoke(
        "report",
        "good-notes",
        "--version",
        "1.0.0",
        "--severity",
        "critical",
        "--id",
        "CVE-2026-0300",
        "--fixed-in",
        "1.0.1",
        home=tmp_path,
    )
    result = invoke("check", "--json", home=tmp_path)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (checked,) = data["results"]
    assert (checked["plugin"], checked["score"]) == ("good-notes", 100)
    assert [a["action"] for a in checked["actions"]] == ["flag", "disable", "deadline"]
    assert (data["plugins"], data["flagged"], data["disabled"]) == (1, 1, 1)

    stored = LifecycleStore(tmp_path / "corral.db").state("good-notes")
    assert stored.state == "disabled" and "CVE-2026-0300" in stored.reason
    kinds = [e["kind"] for e in audit(tmp_path)]
    assert {"vuln.check", "vuln.action", "vuln.deadline", "plugin.state"} <= set(kinds)
    assert all(e["details"]["user"] for e in audit(tmp_path))

    text = invoke("check", "--status", home=tmp_path).stdout
    assert "last check: " in text and "never" not in text
    assert "fix deadline good-notes CVE-2026-0300 (critical)" in text
    assert last_vuln_check(tmp_path).disabled == 1


def _stored(home):
    """good-notes copied into the home's store as Host.load would; its digest."""
    digest = "d" * 64
    shutil.copytree(GOOD, home / "store" / digest)
    return digest
