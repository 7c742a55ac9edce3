"""The lifecycle store on both backends: one interface, changes that other processes notice.

Every test runs on SQLite and on a real PostgreSQL (tests/postgres.py). Two
store objects on one database stand for the CLI and a host.
"""

from __future__ import annotations

import threading

import pytest

from corral.policy import AdminPolicy
from corral.runtime.lifecycle import (
    PostgresLifecycleStore,
    SqliteLifecycleStore,
    lifecycle_target,
    open_lifecycle,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "corral.db")
    return request.getfixturevalue("postgresql_backend").target


@pytest.fixture
def pair(target):
    """Two stores on one database: the CLI's and the host's."""
    cli, host = open_lifecycle(target), open_lifecycle(target)
    yield cli, host
    cli.close()
    host.close()


def test_states_approvals_and_usage_round_trip(pair):
    cli, host = pair
    cli.set_state("weather", "suspended", now=10.0, version="1.0.0", reason="review")
    stored = host.state("weather")
    assert (stored.state, stored.version, stored.reason, stored.updated) == (
        "suspended",
        "1.0.0",
        "review",
        10.0,
    )
    cli.approve("weather", "1.0.0", frozenset({"env:read=TZ"}), now=1795000000.25)
    assert host.approval("weather").permissions == {"env:read=TZ"}
    assert host.approval("weather").time == 1795000000.25  # no float4 rounding on PostgreSQL
    host.record_usage({"weather": (2, {"memory_mb": 30.0}, {"memory_mb": 20.0})}, now=1.0)
    host.record_usage({"weather": (1, {"memory_mb": 25.0}, {"memory_mb": 25.0})}, now=2.0)
    assert cli.usage("weather")["peaks"] == {"memory_mb": 30.0}
    assert cli.usage("weather")["samples"] == 3


def test_a_change_by_one_store_is_seen_by_the_other(pair):
    cli, host = pair
    host.changed()  # the host's baseline (the first ask is always "changed")
    assert not host.changed()
    cli.set_state("weather", "suspended", now=1.0)
    if isinstance(host, SqliteLifecycleStore):
        assert host.changed()  # the counter moved
        assert not host.changed()
    assert host.state("weather").state == "suspended"


def test_refusing_closes_the_request_and_approving_reopens_the_version(pair):
    cli, host = pair
    cli.approve("weather", "1.0.0", frozenset({"a"}), now=1.0)
    host.ask("weather", "1.1.0", frozenset({"a", "b"}), now=2.0)
    cli.refuse("weather", "1.1.0", frozenset({"a", "b"}), now=3.0, reason="no network")
    assert host.pending("weather") is None
    refused, reason = host.refusal("weather", "1.1.0")
    assert refused.permissions == {"a", "b"} and reason == "no network"
    cli.approve("weather", "1.1.0", frozenset({"a", "b"}), now=4.0)
    assert host.refusal("weather", "1.1.0") is None
    assert host.approval("weather").version == "1.1.0"


def test_forget_drops_consent_but_keeps_the_state(pair):
    cli, host = pair
    cli.approve("weather", "1.0.0", frozenset({"a"}), now=1.0)
    cli.set_state("weather", "disabled", now=1.0, reason="uninstalled")
    cli.forget("weather")
    assert host.approval("weather") is None and host.usage("weather") is None
    assert host.state("weather").state == "disabled"


def test_postgres_notifies_a_listener_when_a_change_commits(postgresql_backend):
    cli = PostgresLifecycleStore(postgresql_backend.target)
    host = PostgresLifecycleStore(postgresql_backend.target)
    heard = threading.Event()
    connected = threading.Event()

    def on_change():
        if connected.is_set():
            heard.set()
        connected.set()  # the first call is the catch-up after LISTEN

    host.watch(on_change)
    try:
        assert connected.wait(10), "the listener never connected"
        assert not heard.is_set()
        cli.set_state("weather", "suspended", now=1.0)
        assert heard.wait(10), "no NOTIFY reached the listener"
    finally:
        host.close()
        cli.close()


def test_the_store_follows_the_audit_log_to_postgresql(tmp_path, postgresql_backend):
    url = postgresql_backend.target
    on_pg = AdminPolicy.from_dict({"audit": url})
    assert lifecycle_target(tmp_path / "corral.db", on_pg) == url
    assert lifecycle_target(tmp_path / "corral.db", AdminPolicy.from_dict({})) == str(
        tmp_path / "corral.db"
    )
    assert lifecycle_target(tmp_path / "corral.db", on_pg, "memory") == str(tmp_path / "corral.db")
