"""temporary_host: a real host on a throwaway home, and nothing left once the block ends."""

from __future__ import annotations

import os

import psutil
import pytest

from corral.sandbox import cgroups
from corral.testing import audit_events, temporary_home, temporary_host
from tests.testing._plugins import snoop

pytestmark = pytest.mark.pen


def live_children() -> list[psutil.Process]:
    me = psutil.Process(os.getpid())
    return [c for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]


def groups_named(prefix: str) -> list[str]:
    return [
        str(g)
        for base in cgroups.base_dirs().values()
        if base.is_dir()
        for g in base.iterdir()
        if g.name.startswith(prefix)
    ]


def test_a_temporary_host_runs_real_pens_and_leaves_nothing_behind(tmp_path):
    plugin, name = snoop(tmp_path)
    with temporary_host() as host:
        home = host.home.root
        handle = host.load(plugin)
        assert handle.call("echo", {"a": 1}) == {"a": 1}
        assert live_children(), "the pen should be a real process while the host is open"
        assert [e.kind for e in audit_events(host, plugin=name, kind="plugin.loaded")] == [
            "plugin.loaded"
        ]
    assert not home.exists()
    assert live_children() == []
    assert groups_named(name) == []


def test_the_audit_log_is_in_memory_unless_asked_otherwise(tmp_path):
    plugin, name = snoop(tmp_path)
    with temporary_host() as host:
        host.load(plugin)
        assert not (host.home.db.exists() and audit_rows(host.home.db))
    with temporary_host(audit=None) as host:
        host.load(plugin)
        host.audit.flush()
        assert audit_rows(host.home.db) > 0
        assert audit_events(host, kind="grant", plugin=name)


def audit_rows(db) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master")}
        if "audit_events" not in tables:
            return 0
        return conn.execute("select count(*) from audit_events").fetchone()[0]


def test_a_home_the_caller_gives_is_used_and_kept(tmp_path):
    home = tmp_path / "mine"
    with temporary_host(home=home) as host:
        assert host.home.root == home
    assert home.is_dir()


def test_a_temporary_home_is_searchable_by_the_pen_user_and_then_gone():
    with temporary_home() as home:
        assert home.stat().st_mode & 0o777 == 0o755
        assert not any(home.iterdir())
    assert not home.exists()


def test_a_process_isolation_host_can_reach_its_temporary_home(tmp_path):
    # pytest's tmp_path is private (0700): a process-level pen could not open its store copy
    # there, which is why the kit makes its own home.
    plugin, _ = snoop(tmp_path)
    with temporary_host(isolation="process") as host:
        assert host.load(plugin).call("echo", 7) == 7
