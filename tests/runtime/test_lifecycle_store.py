"""The lifecycle store on both backends: one interface, changes that other processes notice.

Every test runs on SQLite and on a real PostgreSQL (tests/postgres.py). Two
store objects on one database stand for the CLI and a host.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
from pathlib import Path

import pytest

from corral.errors import HostError
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


# --- SQLite: the signal file beside corral.db ---------------------------------------
# The host reads the file before every call and the counter row only when the file
# says something it has not confirmed; each test below makes the file lie or vanish
# and checks that the host still sees the next change (slower, never blind).


@pytest.fixture
def sqlite_pair(tmp_path):
    path = tmp_path / "corral.db"
    cli, host = SqliteLifecycleStore(path), SqliteLifecycleStore(path)
    yield cli, host, Path(cli.signal_path)
    cli.close()
    host.close()


def _settled(host: SqliteLifecycleStore) -> None:
    host.changed()
    assert not host.changed()


def test_every_write_copies_the_counter_into_the_signal_file(sqlite_pair):
    cli, host, signal = sqlite_pair
    _settled(host)
    for step in range(3):
        cli.set_state("weather", "suspended" if step % 2 else "loaded", now=float(step))
        assert host.changed()
        assert not host.changed()
    with sqlite3.connect(cli.path) as db:
        (row,) = db.execute("select n from lifecycle_changes").fetchone()
    assert struct.unpack("<Q", signal.read_bytes()) == (row,)


def test_a_write_that_rolls_back_after_signalling_leaves_the_host_reading_the_row(sqlite_pair):
    cli, host, _ = sqlite_pair
    _settled(host)
    with pytest.raises(RuntimeError), cli._write("weather") as run:
        run("insert into lifecycle_state(plugin, state, updated) values ('w', 'disabled', 1)", ())
        cli._signal(run, "weather")  # the file moves on ...
        raise RuntimeError("... and the transaction rolls back")
    assert not host.changed()  # nothing committed: nothing to adopt
    assert host.state("w") is None
    cli.set_state("weather", "suspended", now=1.0)  # reuses the rolled-back value
    assert host.changed()


def test_a_removed_or_replaced_signal_file_is_followed(sqlite_pair):
    cli, host, signal = sqlite_pair
    _settled(host)  # the host now holds the file open
    signal.unlink()
    cli.set_state("weather", "suspended", now=1.0)  # a new file, a new inode
    assert host.changed()
    assert not host.changed()
    stale = signal.read_bytes()
    signal.with_suffix(".tmp").write_bytes(stale)
    signal.with_suffix(".tmp").replace(signal)  # the same value under a new inode
    cli.set_state("weather", "loaded", now=2.0)
    assert host.changed()


def test_a_write_that_bypasses_the_signal_file_is_seen_at_the_next_signalled_one(sqlite_pair):
    """The documented limit: a bare SQL update is seen at the next write through corral
    (or the monitor's round, which polls the rows); corral's own writers never bypass it."""
    cli, host, signal = sqlite_pair
    _settled(host)
    frozen = signal.read_bytes()
    with sqlite3.connect(cli.path) as db:  # a writer that bypasses the file (an old corral)
        db.execute("update lifecycle_changes set n = n + 1")
    signal.write_bytes(frozen)
    assert not host.changed()  # the file is all the fast path reads ...
    cli.set_state("weather", "suspended", now=1.0)  # ... until the next write through corral
    assert host.changed()


def test_a_signal_file_that_cannot_be_written_is_removed(sqlite_pair):
    cli, host, signal = sqlite_pair
    _settled(host)
    signal.unlink()
    signal.symlink_to(signal.parent / "elsewhere")  # O_NOFOLLOW refuses it
    cli.set_state("weather", "suspended", now=1.0)
    assert not signal.is_symlink() and not (signal.parent / "elsewhere").exists()
    assert host.changed()  # no file: the host reads the row
    assert host.state("weather").state == "suspended"


def test_a_fifo_in_place_of_the_signal_file_blocks_nobody(sqlite_pair):
    cli, host, signal = sqlite_pair
    _settled(host)
    signal.unlink()
    os.mkfifo(signal)  # opening a FIFO blocks until the other end opens, unless told not to
    outcome: list[bool] = []
    checker = threading.Thread(target=lambda: outcome.append(host.changed()), daemon=True)
    checker.start()
    checker.join(10)
    assert outcome == [False], "the host's check hung on the FIFO"
    cli.set_state("weather", "suspended", now=1.0)  # the writer cannot write it: removed
    assert not signal.exists()
    assert host.changed()
    cli.set_state("weather", "loaded", now=2.0)  # and the next write makes a file again
    assert signal.is_file()
    assert host.changed()


def test_a_change_that_cannot_be_signalled_is_refused(sqlite_pair):
    cli, host, signal = sqlite_pair
    _settled(host)
    signal.unlink()
    (signal / "x").mkdir(parents=True)  # neither writable nor removable
    with pytest.raises(HostError, match="cannot signal running hosts"):
        cli.set_state("weather", "suspended", now=1.0)
    assert host.state("weather") is None
    assert not host.changed()
