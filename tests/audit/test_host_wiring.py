"""Which store a Host writes to, and what it puts in each record.

Default: SQLite at ``$CORRAL_HOME/corral.db``. Then, strongest first:
``Host(audit=...)``, ``$CORRAL_AUDIT_URL``, ``audit:`` in policy.yaml.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

import corral
from corral.audit.postgres import PostgresStore
from corral.audit.sqlite import SqliteStore


@pytest.fixture
def home():
    root = Path(tempfile.mkdtemp(prefix="corral-home-", dir="/var/tmp"))
    root.chmod(0o711)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_default_store_is_sqlite_in_the_homes_corral_db(home, monkeypatch):
    monkeypatch.delenv("CORRAL_AUDIT_URL", raising=False)
    with corral.Host(home=home) as host:
        assert isinstance(host.audit, SqliteStore)
        host.record("admin", "", "info", action="test")
    rows = sqlite3.connect(home / "corral.db").execute("SELECT kind FROM audit_events").fetchall()
    assert rows == [("admin",)]


def test_policy_yaml_and_the_environment_select_postgresql(home, postgresql_backend, monkeypatch):
    monkeypatch.delenv("CORRAL_AUDIT_URL", raising=False)
    (home / "policy.yaml").write_text(f"audit: {postgresql_backend.target}\n")
    with corral.Host(home=home) as host:
        assert isinstance(host.audit, PostgresStore)
        host.record("admin", "", "info", action="from-policy")
    (home / "policy.yaml").unlink()
    monkeypatch.setenv("CORRAL_AUDIT_URL", postgresql_backend.target)
    with corral.Host(home=home) as host:
        assert isinstance(host.audit, PostgresStore)
        host.record("admin", "", "info", action="from-env")
        actions = [e.details["action"] for e in host.audit.query(kind="admin")]
    assert actions == ["from-policy", "from-env"]
    # corral.db still holds this host's trust and lifecycle state, but no audit record
    tables = sqlite3.connect(home / "corral.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'audit_%'"
    )
    assert tables.fetchall() == []


def test_an_unreachable_configured_store_refuses_to_start_the_host(home):
    with pytest.raises(corral.AuditError, match="cannot connect"):
        corral.Host(home=home, audit="postgresql://x@/db?host=/nonexistent-dir&port=1")


@pytest.mark.pen
def test_records_carry_version_digest_host_and_a_verified_chain(home, plugin_dir):
    with corral.Host(home=home, isolation="process") as host:
        plugin = host.load(plugin_dir("good"))
        plugin.call("echo", 1)
        loaded = host.audit.query(plugin="good-notes", kind="plugin.loaded")
        [done] = host.audit.query(plugin="good-notes", kind="call.completed")
        reports = host.audit.verify()
    assert loaded[0].version == plugin.version and loaded[0].digest == plugin.store_dir.name
    assert done.host_id == host.audit.host_id and done.worker
    assert [r.ok for r in reports] == [True]


@pytest.mark.pen
def test_a_denial_is_committed_before_the_caller_sees_the_error(home, plugin_dir, monkeypatch):
    monkeypatch.delenv("CORRAL_AUDIT_URL", raising=False)
    with corral.Host(home=home, isolation="process") as host:
        plugin = host.load(plugin_dir("good"))
        with pytest.raises(corral.PermissionDenied):
            plugin.call("secret")
        # Read the file directly, as another process would: no flush, no store.
        with sqlite3.connect(home / "corral.db") as db:
            rows = db.execute(
                "SELECT kind, source, decision FROM audit_events WHERE plugin = 'good-notes'"
            ).fetchall()
    assert ("denied", "worker", "deny") in rows
    assert ("call.failed", "host", "deny") in rows
