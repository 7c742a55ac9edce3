"""Plugin lifecycle state, approvals, refusals and usage peaks, kept across restarts.

An administrator who suspends or disables a plugin means it until they say
otherwise, so that decision cannot live only in a host's memory: it sits in
``lifecycle_*`` tables beside the audit log, where a restarted host, the CLI
and the dashboard (other processes, possibly other machines) all read it.
The same goes for consent: the permissions an administrator approved for a
plugin are stored, and a new version asking for more does not get them until
someone approves again (as a browser re-asks on an extension upgrade).

Two implementations of one interface: SQLite in the home's ``corral.db``, and
PostgreSQL when the home's audit log is there (:func:`open_lifecycle`), so a
CLI on another machine sharing the database drives every host. Each write
bumps a change counter in the same transaction; PostgreSQL also sends
``NOTIFY corral_lifecycle``. A host learns of a change cheaply: on SQLite by
reading the counter's copy in a small file beside the database before a call
(a ``pread``, falling back to the row itself), on PostgreSQL from a listener
thread.
"""

from __future__ import annotations

import abc
import contextlib
import json
import logging
import os
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.audit import audit_target, policy_audit
from corral.audit.postgres import connect as connect_postgres
from corral.errors import HostError
from corral.policy import AdminPolicy

STATES = ("loaded", "running", "suspended", "disabled", "failed")
"""What ``host.plugins()`` reports. Only ``suspended`` and ``disabled`` are
administrative (stored and sticky); the others describe the workers of the moment."""

CHANNEL = "corral_lifecycle"
"""The PostgreSQL NOTIFY channel every lifecycle write signals on."""

_PG = ("postgresql://", "postgres://")
_SCHEMA_LOCK = 0x636F7272616D  # one advisory lock id for creating the lifecycle tables
_log = logging.getLogger(__name__)
_COUNTER = struct.Struct("<Q")
"""The change counter as the signal file holds it: 8 bytes, little-endian."""

_SCHEMA = """
create table if not exists lifecycle_state (
    plugin text primary key,
    state text not null,
    version text not null default '',
    reason text not null default '',
    updated {real} not null
);
create table if not exists lifecycle_approvals (
    plugin text primary key,
    version text not null,
    permissions text not null,
    approved {real} not null
);
create table if not exists lifecycle_pending (
    plugin text primary key,
    version text not null,
    permissions text not null,
    asked {real} not null
);
create table if not exists lifecycle_refusals (
    plugin text not null,
    version text not null,
    permissions text not null,
    refused {real} not null,
    reason text not null default '',
    primary key (plugin, version)
);
create table if not exists lifecycle_usage (
    plugin text primary key,
    samples integer not null default 0,
    peaks text not null default '{{}}',
    last text not null default '{{}}',
    updated {real} not null
);
create table if not exists lifecycle_changes (
    id integer primary key,
    n bigint not null
);
insert into lifecycle_changes(id, n) values (1, 0) on conflict (id) do nothing
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
    """A set of permissions an administrator consented to (or refused) for a plugin version."""

    plugin: str
    version: str
    permissions: frozenset[str]
    time: float


Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
"""Execute one statement (``?`` placeholders) inside the current transaction."""


class LifecycleStore(abc.ABC):
    """The ``lifecycle_*`` tables: states, approvals, pending and refused requests, usage."""

    kind: str = ""

    # --- the backend ---------------------------------------------------------------

    @abc.abstractmethod
    def _transaction(self) -> contextlib.AbstractContextManager[Run]:
        """One transaction; writes to it are atomic (and, when they change state, signalled)."""

    @abc.abstractmethod
    def _signal(self, run: Run, plugin: str) -> None:
        """Tell other processes, in the writing transaction, that ``plugin`` changed."""

    @abc.abstractmethod
    def changed(self) -> bool:
        """Cheap: has any stored state, approval or refusal changed since the last ask?"""

    def watch(self, on_change: Callable[[], None]) -> None:  # noqa: B027 - optional
        """Call ``on_change`` from a thread of the store's own when another process writes."""

    def close(self) -> None:  # noqa: B027 - optional
        """Stop watching and release connections."""

    def describe(self) -> str:
        return self.kind

    @property
    @abc.abstractmethod
    def target(self) -> str:
        """The path or URL this store opened: where the home's other shared rows live too."""

    @contextlib.contextmanager
    def _write(self, plugin: str) -> Iterator[Run]:
        """A write transaction that bumps the change counter (and signals) as it commits."""
        with self._transaction() as run:
            yield run
            self._signal(run, plugin)

    # --- state ---------------------------------------------------------------

    def set_state(
        self, plugin: str, state: str, *, now: float, version: str = "", reason: str = ""
    ) -> None:
        if state not in STATES:
            raise ValueError(f"state {state!r} is not one of {STATES}")
        with self._write(plugin) as run:
            run(
                "insert into lifecycle_state(plugin, state, version, reason, updated) "
                "values (?, ?, ?, ?, ?) on conflict(plugin) do update set state=excluded.state, "
                "version=excluded.version, reason=excluded.reason, updated=excluded.updated",
                (plugin, state, version, reason[:500], now),
            )

    def state(self, plugin: str) -> StoredState | None:
        with self._transaction() as run:
            rows = run(
                "select plugin, state, version, reason, updated from lifecycle_state "
                "where plugin = ?",
                (plugin,),
            )
        return StoredState(*rows[0]) if rows else None

    def states(self) -> dict[str, StoredState]:
        with self._transaction() as run:
            rows = run("select plugin, state, version, reason, updated from lifecycle_state", ())
        return {row[0]: StoredState(*row) for row in rows}

    # --- approvals -----------------------------------------------------------

    def approval(self, plugin: str) -> Approval | None:
        return self._one("lifecycle_approvals", "approved", plugin)

    def approvals(self) -> list[Approval]:
        with self._transaction() as run:
            rows = run("select plugin, version, permissions, approved from lifecycle_approvals", ())
        return [a for a in map(_approval, rows) if a is not None]

    def pending(self, plugin: str) -> Approval | None:
        return self._one("lifecycle_pending", "asked", plugin)

    def _one(self, table: str, when: str, plugin: str) -> Approval | None:
        with self._transaction() as run:
            rows = run(
                f"select plugin, version, permissions, {when} from {table} "  # noqa: S608 - constants
                "where plugin = ?",
                (plugin,),
            )
        return _approval(rows[0] if rows else None)

    def approve(
        self, plugin: str, version: str, permissions: frozenset[str], *, now: float
    ) -> None:
        """Consent: the approved set for ``plugin`` becomes ``permissions``; requests close."""
        with self._write(plugin) as run:
            run(
                "insert into lifecycle_approvals(plugin, version, permissions, approved) "
                "values (?, ?, ?, ?) on conflict(plugin) do update set version=excluded.version, "
                "permissions=excluded.permissions, approved=excluded.approved",
                (plugin, version, json.dumps(sorted(permissions)), now),
            )
            run("delete from lifecycle_pending where plugin = ? and version = ?", (plugin, version))
            run(
                "delete from lifecycle_refusals where plugin = ? and version = ?",
                (plugin, version),
            )

    def ask(self, plugin: str, version: str, permissions: frozenset[str], *, now: float) -> None:
        with self._write(plugin) as run:
            run(
                "insert into lifecycle_pending(plugin, version, permissions, asked) "
                "values (?, ?, ?, ?) on conflict(plugin) do update set version=excluded.version, "
                "permissions=excluded.permissions, asked=excluded.asked",
                (plugin, version, json.dumps(sorted(permissions)), now),
            )

    def refuse(
        self, plugin: str, version: str, permissions: frozenset[str], *, now: float, reason: str
    ) -> None:
        """Close ``version``'s request without consent; that version stays refused."""
        with self._write(plugin) as run:
            run(
                "insert into lifecycle_refusals(plugin, version, permissions, refused, reason) "
                "values (?, ?, ?, ?, ?) on conflict(plugin, version) do update set "
                "permissions=excluded.permissions, refused=excluded.refused, "
                "reason=excluded.reason",
                (plugin, version, json.dumps(sorted(permissions)), now, reason[:500]),
            )
            run("delete from lifecycle_pending where plugin = ? and version = ?", (plugin, version))

    def refusal(self, plugin: str, version: str) -> tuple[Approval, str] | None:
        """The refused request of ``plugin`` at ``version`` and the reason given, if any."""
        with self._transaction() as run:
            rows = run(
                "select plugin, version, permissions, refused, reason from lifecycle_refusals "
                "where plugin = ? and version = ?",
                (plugin, version),
            )
        if not rows:
            return None
        found = _approval(rows[0][:4])
        assert found is not None
        return found, str(rows[0][4])

    def refusals(self, plugin: str) -> list[Approval]:
        with self._transaction() as run:
            rows = run(
                "select plugin, version, permissions, refused from lifecycle_refusals "
                "where plugin = ?",
                (plugin,),
            )
        return [a for a in map(_approval, rows) if a is not None]

    def forget(self, plugin: str) -> None:
        """Drop consent, requests, refusals and peaks of an uninstalled plugin (not its state)."""
        with self._write(plugin) as run:
            for table in ("lifecycle_approvals", "lifecycle_pending", "lifecycle_refusals"):
                run(f"delete from {table} where plugin = ?", (plugin,))  # noqa: S608 - constants
            run("delete from lifecycle_usage where plugin = ?", (plugin,))

    # --- usage peaks ---------------------------------------------------------

    def record_usage(
        self, rows: dict[str, tuple[int, dict[str, float], dict[str, float]]], *, now: float
    ) -> None:
        """Fold rounds of samples (plugin -> (rounds, peaks, last)) into the stored peaks."""
        if not rows:
            return
        with self._transaction() as run:
            for plugin, (rounds, metrics, last) in rows.items():
                found = run(
                    "select samples, peaks from lifecycle_usage where plugin = ?", (plugin,)
                )
                samples, peaks = (found[0][0], json.loads(found[0][1])) if found else (0, {})
                for key, value in metrics.items():
                    peaks[key] = max(float(peaks.get(key, 0.0)), float(value))
                run(
                    "insert into lifecycle_usage(plugin, samples, peaks, last, updated) "
                    "values (?, ?, ?, ?, ?) on conflict(plugin) do update set "
                    "samples=excluded.samples, peaks=excluded.peaks, last=excluded.last, "
                    "updated=excluded.updated",
                    (plugin, samples + rounds, json.dumps(peaks), json.dumps(last), now),
                )

    def usage(self, plugin: str) -> dict[str, Any] | None:
        with self._transaction() as run:
            rows = run(
                "select samples, peaks, last, updated from lifecycle_usage where plugin = ?",
                (plugin,),
            )
        if not rows:
            return None
        row = rows[0]
        return {
            "samples": row[0],
            "peaks": json.loads(row[1]),
            "last": json.loads(row[2]),
            "updated": row[3],
        }


class SqliteLifecycleStore(LifecycleStore):
    """The tables in a home's ``corral.db`` (WAL; a short connection per operation).

    A connection per operation needs no lock of ours: state changes are rare
    and come from several threads and processes. :meth:`changed` is the
    exception: it runs before every call, and a SQLite read there cost more
    than the rest of a warm call's bookkeeping (about 25 µs alone, several
    times that while the audit writer commits to the same file). So every
    write also copies the new counter value into ``<db>.changes`` (8 bytes)
    *before* its transaction commits, and :meth:`changed` reads that file
    with one ``pread``; only when the file differs from what it last
    confirmed does it read the counter row (``PRAGMA data_version`` would
    not do: the audit log in the same file changes it on every call).

    Why this cannot miss a change: the file is written inside the writing
    transaction, so by the time a write is committed (and the CLI returns)
    the file already holds its value, which this host has not confirmed yet.
    A value is confirmed only when the row says the same, so a write that
    rolled back after touching the file (or a file nobody can read) leaves
    the host reading the row on every call, as it did before the file
    existed: slower, never blind. A writer that cannot write the file
    removes it, and refuses the change when it cannot do that either.
    """

    kind = "sqlite"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.signal_path = self.path + ".changes"
        self._seen: int | None = None
        self._confirmed: int | None = None  # a file value the row has matched
        self._signal_fd: int | None = None
        self._watch: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()
        with self._connect() as db:
            db.execute("pragma journal_mode=wal")
            db.executescript(_SCHEMA.format(real="real"))
        if not os.path.exists(self.signal_path):
            # A home written before the file existed: publish the current value once.
            with contextlib.suppress(HostError, sqlite3.Error), self._transaction() as run:
                self._publish(_counter(run))

    def describe(self) -> str:
        return self.path

    @property
    def target(self) -> str:
        return self.path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("pragma busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        with self._connect() as db:

            def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                return list(db.execute(sql, tuple(params)).fetchall())

            db.execute("begin immediate")
            try:
                yield run
            except BaseException:
                db.execute("rollback")
                raise
            db.execute("commit")

    def _signal(self, run: Run, plugin: str) -> None:
        run("update lifecycle_changes set n = n + 1 where id = 1", ())
        self._publish(_counter(run))

    def _publish(self, value: int) -> None:
        """Write ``value`` to the signal file, inside the writing transaction (see the class).

        A file this process cannot write is removed, so hosts fall back to
        the row; when even that fails the change is refused (the caller's
        transaction rolls back) rather than left unseen by running hosts.
        """
        try:
            try:
                fd = os.open(self.signal_path, _SIGNAL_CREATE, 0o600)
                with contextlib.suppress(OSError):  # the same access as the database itself
                    os.fchmod(fd, os.stat(self.path).st_mode & 0o666)
            except FileExistsError:
                fd = os.open(self.signal_path, _SIGNAL_OPEN | os.O_WRONLY)
            try:
                os.pwrite(fd, _COUNTER.pack(value), 0)
            finally:
                os.close(fd)
        except OSError as exc:
            try:
                os.unlink(self.signal_path)
            except FileNotFoundError:
                pass
            except OSError:
                raise HostError(
                    f"cannot signal running hosts through {self.signal_path} ({exc}); "
                    "the change was not stored: give this user write access to that file "
                    "or remove it"
                ) from None

    def _peek(self) -> int | None:
        """The signal file's value, or None when there is no readable, current file."""
        try:
            if self._signal_fd is None:
                self._signal_fd = os.open(self.signal_path, _SIGNAL_OPEN | os.O_RDONLY)
            data = os.pread(self._signal_fd, _COUNTER.size, 0)
            if os.fstat(self._signal_fd).st_nlink:
                return _COUNTER.unpack(data)[0] if len(data) == _COUNTER.size else None
        except OSError:
            pass
        self._close_signal()  # removed or replaced: open the path again next time
        return None

    def _close_signal(self) -> None:
        if self._signal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._signal_fd)
            self._signal_fd = None

    def changed(self) -> bool:
        with self._watch_lock:
            signalled = self._peek()
            if signalled is not None and signalled == self._confirmed:
                return False
            try:
                if self._watch is None:
                    self._watch = sqlite3.connect(
                        self.path, timeout=5, isolation_level=None, check_same_thread=False
                    )
                row = self._watch.execute("select n from lifecycle_changes where id = 1").fetchone()
            except sqlite3.Error as exc:
                raise HostError(f"cannot read lifecycle state in {self.path}: {exc}") from None
            value = int(row[0]) if row else 0
            changed, self._seen = value != self._seen, value
            self._confirmed = value if signalled == value else None
            return changed

    def close(self) -> None:
        with self._watch_lock:
            self._close_signal()
            if self._watch is not None:
                self._watch.close()
                self._watch = None


# Never follow a link; never block opening something that is not a regular file (a FIFO
# planted there would hang every call); pread on anything but a file fails -> the row.
_SIGNAL_OPEN = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_SIGNAL_CREATE = _SIGNAL_OPEN | os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _counter(run: Run) -> int:
    """The change counter's value, read in the caller's transaction."""
    rows = run("select n from lifecycle_changes where id = 1", ())
    return int(rows[0][0]) if rows else 0


class PostgresLifecycleStore(LifecycleStore):
    """The tables in the PostgreSQL database the home's audit log uses.

    Each write runs ``pg_notify('corral_lifecycle', plugin)`` in its
    transaction, so the notice goes out exactly when the change commits.
    :meth:`watch` starts a thread holding one ``LISTEN`` connection; it calls
    back on every notice, and once after each (re)connect, since notices sent
    while it was not listening are lost.
    """

    kind = "postgresql"

    def __init__(self, url: str, *, reconnect_seconds: float = 1.0) -> None:
        self.url = url
        self._reconnect = reconnect_seconds
        self._dirty = threading.Event()
        self._dirty.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        with self._transaction() as run:
            run(f"select pg_advisory_xact_lock({_SCHEMA_LOCK})", ())
            for statement in _SCHEMA.format(real="double precision").split(";"):
                if statement.strip():
                    run(statement, ())

    def describe(self) -> str:
        from corral.audit.factory import describe

        return describe(self.url)

    @property
    def target(self) -> str:
        return self.url

    def _connect(self) -> Any:
        return connect_postgres(
            self.url,
            needs="lifecycle state on PostgreSQL needs psycopg",
            cannot="cannot connect to the PostgreSQL lifecycle store",
            error=HostError,
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        import psycopg

        conn = self._connect()
        try:

            def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                cursor = conn.execute(sql.replace("?", "%s"), tuple(params))
                return list(cursor.fetchall()) if cursor.description else []

            try:
                with conn.transaction():
                    yield run
            except psycopg.Error as exc:
                raise HostError(f"PostgreSQL lifecycle store: {exc}") from None
        finally:
            conn.close()

    def _signal(self, run: Run, plugin: str) -> None:
        run("update lifecycle_changes set n = n + 1 where id = 1", ())
        run("select pg_notify(?, ?)", (CHANNEL, plugin))

    def changed(self) -> bool:
        """True once after each notice the listener could not apply (and at first)."""
        if self._dirty.is_set():
            self._dirty.clear()
            return True
        return False

    def watch(self, on_change: Callable[[], None]) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._listen, args=(on_change,), name="corral-lifecycle-listen", daemon=True
        )
        self._thread.start()

    def _listen(self, on_change: Callable[[], None]) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                _log.warning("lifecycle listener cannot connect: %s", exc)
                self._dirty.set()
                self._stop.wait(self._reconnect)
                continue
            try:
                conn.execute(f"LISTEN {CHANNEL}")
                self._apply(on_change)  # what changed while nobody listened
                while not self._stop.is_set():
                    got = False
                    for _ in conn.notifies(timeout=0.25):
                        got = True
                        break
                    if got:
                        self._apply(on_change)
            except psycopg.Error as exc:
                _log.warning("lifecycle listener lost its connection: %s", exc)
                self._dirty.set()
                self._stop.wait(self._reconnect)
            finally:
                conn.close()

    def _apply(self, on_change: Callable[[], None]) -> None:
        try:
            on_change()
        except Exception as exc:  # the listener must outlive one failed poll
            _log.warning("applying a lifecycle change failed: %r", exc)
            self._dirty.set()  # the next call polls again

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def lifecycle_target(home_db: Path, policy: AdminPolicy, audit: str | None = None) -> str:
    """Where a home's lifecycle state lives: the PostgreSQL database of its audit log, if any.

    The audit store is chosen as :class:`~corral.runtime.host.Host` chooses it
    (explicit, ``$CORRAL_AUDIT_URL``, ``audit:`` in policy.yaml); only a
    PostgreSQL one is shared, so anything else keeps lifecycle in ``corral.db``.
    """
    target = audit_target(audit, policy_value=policy_audit(policy), default=home_db)
    return target if target.startswith(_PG) else str(home_db)


def open_lifecycle(target: str | os.PathLike[str]) -> LifecycleStore:
    """A lifecycle store on a ``postgresql://`` URL or a SQLite path."""
    text = os.fspath(target)
    if text.startswith(_PG):
        return PostgresLifecycleStore(text)
    return SqliteLifecycleStore(text)


def _approval(row: Sequence[Any] | None) -> Approval | None:
    if row is None:
        return None
    return Approval(row[0], row[1], frozenset(json.loads(row[2])), float(row[3]))
