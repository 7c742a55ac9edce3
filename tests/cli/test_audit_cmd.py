"""``corral audit query|verify|prune`` against the store a host wrote, from outside the host."""

import json
import sqlite3

import pytest
from typer.testing import CliRunner

import corral
from corral.cli.app import app

runner = CliRunner()
DAY = 86400.0


def audit(*args, home):
    return runner.invoke(app, ["audit", *map(str, args), "--home", str(home)])


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home whose host recorded a denial, a grant and a call, and then closed."""
    monkeypatch.delenv("CORRAL_AUDIT_URL", raising=False)
    monkeypatch.setenv("CORRAL_HOST_ID", "host-a")
    with corral.Host(home=tmp_path) as host:
        host.record("denied", "notes", "deny", source="worker", permission="file:read=/etc/shadow")
        host.record("grant", "notes", "info", tier="community")
        host.record("call.completed", "other", "allow", callable="echo")
    return tmp_path


def test_query_prints_a_table_of_every_event(home):
    result = audit("query", home=home)
    assert result.exit_code == 0, result.output
    assert "3 event(s)" in result.stdout
    for word in ("denied", "grant", "call.completed", "host-a"):
        assert word in result.stdout


def test_query_filters_and_exports_json_and_jsonl(home):
    result = audit("query", "--plugin", "notes", "--decision", "deny", "--json", home=home)
    [event] = json.loads(result.stdout)
    assert (event["kind"], event["details"]) == ("denied", {"permission": "file:read=/etc/shadow"})
    assert event["seq"] == 1 and len(event["hash"]) == 64

    lines = audit("query", "--jsonl", "--since", "1h", home=home).stdout.splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["denied", "grant", "call.completed"]
    assert (
        audit("query", "--kind", "grant", "--until", "1h", "--json", home=home).stdout.strip()
        == "[]"
    )
    assert len(json.loads(audit("query", "--limit", "2", "--json", home=home).stdout)) == 2


def test_verify_says_ok_per_host(home):
    result = audit("verify", home=home)
    assert result.exit_code == 0, result.output
    assert "host host-a: ok, 3 records (seq 1..3, from genesis)" in result.stdout


def test_verify_exits_1_naming_the_first_edited_record(home):
    with sqlite3.connect(home / "corral.db") as db:
        [(bad_id,)] = db.execute("SELECT id FROM audit_events WHERE seq = 2").fetchall()
        db.execute('UPDATE audit_events SET details = \'{"tier": "enterprise"}\' WHERE seq = 2')
    result = audit("verify", home=home)
    assert result.exit_code == 1
    assert f"seq 2 (id {bad_id}): edited" in result.stderr
    data = json.loads(audit("verify", "--json", home=home).stdout)
    assert data["ok"] is False
    assert data["hosts"][0]["problem"] == {
        "seq": 2,
        "id": bad_id,
        "what": "edited",
        "detail": "its content does not match its hash",
    }


def test_prune_asks_first_then_leaves_a_verifiable_checkpoint(home):
    declined = runner.invoke(
        app, ["audit", "prune", "--older-than", "0s", "--home", str(home)], input="n\n"
    )
    assert declined.exit_code == 1 and "nothing deleted" in declined.stderr
    result = audit("prune", "--older-than", "0s", "--yes", home=home)
    assert result.exit_code == 0, result.output
    assert "host host-a: deleted 3 record(s); checkpoint at seq 3" in result.stdout
    after = audit("verify", home=home)
    assert after.exit_code == 0 and "from checkpoint seq 3" in after.stdout
    [note] = json.loads(audit("query", "--kind", "audit.pruned", "--json", home=home).stdout)
    assert note["details"]["hosts"] == {"host-a": {"deleted": 3, "checkpoint_seq": 3}}


def test_prune_keeps_the_seed_default_of_365_days(home):
    result = audit("prune", "--yes", "--json", home=home)
    assert json.loads(result.stdout) == {"ok": True, "older_than": "365d", "hosts": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["prune", "--older-than", "5", "--yes"], "Invalid value for '--older-than'"),
        (["query", "--since", "yesterday"], "Invalid value for '--since'"),
    ],
)
def test_bad_input_is_one_clear_error_not_a_traceback(home, args, message):
    result = audit(*args, home=home)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_home_without_an_audit_log_is_an_error_not_an_empty_answer(tmp_path, monkeypatch):
    monkeypatch.delenv("CORRAL_AUDIT_URL", raising=False)
    result = audit("query", home=tmp_path / "nowhere")
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"error: no audit log at {tmp_path}/nowhere/corral.db (wrong --home or --audit?)"
    )
    assert not (tmp_path / "nowhere").exists()


def test_audit_url_reads_a_postgresql_store(postgresql_backend, tmp_path, monkeypatch):
    monkeypatch.delenv("CORRAL_AUDIT_URL", raising=False)
    with corral.Host(home=tmp_path, audit=postgresql_backend.target) as host:
        host.record("denied", "notes", "deny", permission="network:connect=evil:443")
    result = runner.invoke(
        app,
        ["audit", "query", "--json", "--audit", postgresql_backend.target, "--home", str(tmp_path)],
    )
    assert [e["kind"] for e in json.loads(result.stdout)] == ["denied"]
    assert (
        runner.invoke(app, ["audit", "verify", "--audit", postgresql_backend.target]).exit_code == 0
    )
