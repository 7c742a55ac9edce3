"""Plugin lifecycle state, approvals and usage peaks, kept in ``corral.db`` across restarts.

An administrator who suspends or disables a plugin means it until they say
otherwise, so that decision cannot live only in a host's memory: it sits in
``lifecycle_*`` tables beside the audit log, where a restarted host, the CLI
and the dashboard (other processes) all read it. The same goes for consent:
the permissions an administrator approved for a plugin are stored, and a new
version asking for more does not get them until someone approves again (as a
browser re-asks on an extension upgrade).

Each operation opens its own short connection (WAL, busy timeout): state
changes are rare and come from several threads and processes, and a
connection per operation needs no lock of ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

STATES = ("loaded", "running", "suspended", "disabled", "failed")
"""What ``host.plugins()`` reports. Only ``suspended`` and ``disabled`` are
administrative (stored and sticky); the others describe the workers of the moment."""

_SCHEMA = """
create table if not exists lifecycle_state (
    plugin text primary key,
    state text not null,
    version text not null default '',
    reason text not null default '',
    updated real not null
);
create table if not exists lifecycle_approvals (
    plugin text primary key,
    version text not null,
    permissions text not null,
    approved real not null
);
create table if not exists lifecycle_pending (
    plugin text primary key,
    version text not null,
    permissions text not null,
    asked real not null
);
create table if not exists lifecycle_usage (
    plugin text primary key,
    samples integer not null default 0,
    peaks text not null default '{}',
    last text not null default '{}',
    updated real not null
);
"""


@dataclass(frozen=True)
class StoredState:
    """One plugin's administrative state as stored."""

    plugin: str
    state: str
    version: str
    reason: str
    updated: float


@dataclass(frozen=True)
class Approval:
    """A set of permissions an administrator consented to for a plugin version."""

    plugin: str
    version: str
    permissions: frozenset[str]
    time: float


class LifecycleStore:
    """The ``lifecycle_*`` tables of one ``corral.db``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        with self._db() as db:
            db.execute("pragma journal_mode=wal")
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("pragma busy_timeout=30000")
            yield db
        finally:
            db.close()

    # --- state ---------------------------------------------------------------

    def set_state(
        self, plugin: str, state: str, *, now: float, version: str = "", reason: str = ""
    ) -> None:
        if state not in STATES:
            raise ValueError(f"state {state!r} is not one of {STATES}")
        with self._db() as db:
            db.execute(
                "insert into lifecycle_state(plugin, state, version, reason, updated) "
                "values (?, ?, ?, ?, ?) on conflict(plugin) do update set state=excluded.state, "
                "version=excluded.version, reason=excluded.reason, updated=excluded.updated",
                (plugin, state, version, reason[:500], now),
            )

    def state(self, plugin: str) -> StoredState | None:
        with self._db() as db:
            row = db.execute(
                "select plugin, state, version, reason, updated from lifecycle_state "
                "where plugin = ?",
                (plugin,),
            ).fetchone()
        return StoredState(*row) if row else None

    def states(self) -> dict[str, StoredState]:
        with self._db() as db:
            rows = db.execute(
                "select plugin, state, version, reason, updated from lifecycle_state"
            ).fetchall()
        return {row[0]: StoredState(*row) for row in rows}

    # --- approvals -----------------------------------------------------------

    def approval(self, plugin: str) -> Approval | None:
        with self._db() as db:
            row = db.execute(
                "select plugin, version, permissions, approved from lifecycle_approvals "
                "where plugin = ?",
                (plugin,),
            ).fetchone()
        return _approval(row)

    def approvals(self) -> list[Approval]:
        with self._db() as db:
            rows = db.execute(
                "select plugin, version, permissions, approved from lifecycle_approvals"
            ).fetchall()
        return [a for a in map(_approval, rows) if a is not None]

    def pending(self, plugin: str) -> Approval | None:
        with self._db() as db:
            row = db.execute(
                "select plugin, version, permissions, asked from lifecycle_pending "
                "where plugin = ?",
                (plugin,),
            ).fetchone()
        return _approval(row)

    def approve(
        self, plugin: str, version: str, permissions: frozenset[str], *, now: float
    ) -> None:
        with self._db() as db:
            db.execute("begin immediate")
            db.execute(
                "insert or replace into lifecycle_approvals values (?, ?, ?, ?)",
                (plugin, version, json.dumps(sorted(permissions)), now),
            )
            db.execute(
                "delete from lifecycle_pending where plugin = ? and version = ?",
                (plugin, version),
            )
            db.execute("commit")

    def ask(self, plugin: str, version: str, permissions: frozenset[str], *, now: float) -> None:
        with self._db() as db:
            db.execute(
                "insert or replace into lifecycle_pending values (?, ?, ?, ?)",
                (plugin, version, json.dumps(sorted(permissions)), now),
            )

    # --- usage peaks ---------------------------------------------------------

    def record_usage(
        self, rows: dict[str, tuple[int, dict[str, float], dict[str, float]]], *, now: float
    ) -> None:
        """Fold rounds of samples (plugin -> (rounds, peaks, last)) into the stored peaks."""
        if not rows:
            return
        with self._db() as db:
            db.execute("begin immediate")
            for plugin, (rounds, metrics, last) in rows.items():
                row = db.execute(
                    "select samples, peaks from lifecycle_usage where plugin = ?", (plugin,)
                ).fetchone()
                samples, peaks = (row[0], json.loads(row[1])) if row else (0, {})
                for key, value in metrics.items():
                    peaks[key] = max(float(peaks.get(key, 0.0)), float(value))
                db.execute(
                    "insert or replace into lifecycle_usage values (?, ?, ?, ?, ?)",
                    (plugin, samples + rounds, json.dumps(peaks), json.dumps(last), now),
                )
            db.execute("commit")

    def usage(self, plugin: str) -> dict[str, Any] | None:
        with self._db() as db:
            row = db.execute(
                "select samples, peaks, last, updated from lifecycle_usage where plugin = ?",
                (plugin,),
            ).fetchone()
        if row is None:
            return None
        return {
            "samples": row[0],
            "peaks": json.loads(row[1]),
            "last": json.loads(row[2]),
            "updated": row[3],
        }


def _approval(row: tuple[Any, ...] | None) -> Approval | None:
    if row is None:
        return None
    return Approval(row[0], row[1], frozenset(json.loads(row[2])), row[3])
