"""The chained SQL store both database backends share: writer thread, group commit, chain.

Why a writer thread: the call path must not wait for a disk or a server
round trip per event, and the chain needs one serial order per host. Every
event goes through one queue to one thread, which takes whatever has queued
up since its last commit, chains the lot onto the host's head and commits it
in one transaction (group commit: one fsync for many events).

What "acknowledged" means, precisely:

* ``write(event)`` returns only after the transaction holding the event has
  committed (for SQLite in WAL mode with ``synchronous=FULL``: the WAL was
  fsynced; for PostgreSQL: the server reported COMMIT, with its own
  ``synchronous_commit``). A write that cannot be committed raises
  :class:`~corral.errors.AuditError` to its caller; it is never dropped quietly.
* ``submit(event)`` only queues; the event is acknowledged when its batch
  commits. ``flush()`` returns once everything submitted before it is
  acknowledged, and raises if any of it could not be.

The head of each host's chain lives in ``audit_heads`` and is read and
updated inside the same transaction as the append (``FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so several processes that share
a host id still form one chain, while hosts with different ids never wait
on each other's rows.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import operator
import os
import queue
import threading
import time
import weakref
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Unpack

from corral.audit.chain import ChainReport, Link, verify_chain
from corral.audit.events import GENESIS, AuditEvent
from corral.audit.filters import EventFilter, PageFilters, Queryable
from corral.audit.retention import to_seconds
from corral.errors import AuditError

SCHEMA_VERSION = 1
_MAX_BATCH = 512
_BACKLOG = 20_000
_ATTEMPTS = 3
_PAGE = 1000

_COLUMNS = (
    "host_id",
    "seq",
    "id",
    "time",
    "kind",
    "plugin",
    "decision",
    "source",
    "version",
    "digest",
    "worker",
    "details",
    "prev_hash",
    "hash",
)
# Every SQL string below is built from constants only (column and table names,
# ``?`` placeholders); values always travel as parameters.
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM audit_events"  # noqa: S608
_MARKS = ", ".join("?" for _ in _COLUMNS)
_INSERT = f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({_MARKS})"  # noqa: S608

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_events ("
    " host_id TEXT NOT NULL, seq BIGINT NOT NULL, id TEXT NOT NULL UNIQUE,"
    " time DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, plugin TEXT NOT NULL,"
    " decision TEXT NOT NULL, source TEXT NOT NULL, version TEXT NOT NULL,"
    " digest TEXT NOT NULL, worker TEXT NOT NULL, details TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (host_id, seq))",
    "CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)",
    "CREATE INDEX IF NOT EXISTS audit_events_plugin ON audit_events (plugin, time)",
    # Newest-first pages filtered by kind, with or without a plugin (the dashboard).
    "CREATE INDEX IF NOT EXISTS audit_events_kind ON audit_events (kind, time)",
    "CREATE INDEX IF NOT EXISTS audit_events_plugin_kind ON audit_events (plugin, kind, time)",
    "CREATE TABLE IF NOT EXISTS audit_heads ("
    " host_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints ("
    " host_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL,"
    " time DOUBLE PRECISION NOT NULL)",
)


@dataclass(frozen=True)
class Pruned:
    """What a prune removed from one host's chain, and the checkpoint it left."""

    host_id: str
    deleted: int
    checkpoint: Link


class _Pending:
    """One queued item: an event (or None for a flush marker) and who waits for it."""

    __slots__ = ("done", "error", "event")

    def __init__(self, event: AuditEvent | None, wait: bool) -> None:
        self.event = event
        self.done = threading.Event() if wait else None
        self.error: BaseException | None = None


_STOP = _Pending(None, wait=False)
_OPEN: weakref.WeakSet[SqlStore] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Commit what was submitted when the application exits without closing its store."""
    for store in list(_OPEN):
        with contextlib.suppress(Exception):
            store.close()


class SqlStore(Queryable):
    """A hash-chained audit store on a SQL database; subclasses say how to connect."""

    name = "sql"

    def __init__(self, *, host_id: str, clock: Callable[[], float] = time.time) -> None:
        self.host_id = host_id
        self._clock = clock
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._read_lock = threading.Lock()
        self._failed: BaseException | None = None
        self._pid = os.getpid()
        self._closed = False
        conn = self._connect()
        try:
            self._ensure_schema(conn)
        except BaseException:
            conn.close()
            raise
        self._reader = conn
        self._writer = threading.Thread(
            target=self._run, name=f"corral-audit-{self.name}", daemon=True
        )
        self._writer.start()
        _OPEN.add(self)

    # --- dialect -------------------------------------------------------------

    @abstractmethod
    def _connect(self) -> Any:
        """A new connection, ready for :meth:`_exec` (autocommit; transactions explicit)."""

    @abstractmethod
    def _transaction(self, conn: Any) -> contextlib.AbstractContextManager[None]:
        """A write transaction that holds the database's append lock for this host."""

    @abstractmethod
    def _exec(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement written with ``?`` placeholders; return its rows, if any."""

    @abstractmethod
    def _execmany(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    _db_errors: tuple[type[Exception], ...] = ()
    """The driver's error base class(es): a read that fails with one becomes AuditError."""
    _for_update = ""
    """Appended to the head read: the row lock where the database has one (PostgreSQL)."""
    _schema_lock = ""
    """A statement that serialises schema creation where concurrent DDL races (PostgreSQL)."""

    # --- schema ---------------------------------------------------------------

    def _ensure_schema(self, conn: Any) -> None:
        with self._transaction(conn):
            if self._schema_lock:
                self._exec(conn, self._schema_lock)
            for statement in SCHEMA:
                self._exec(conn, statement)
            self._exec(
                conn,
                "INSERT INTO audit_meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
            rows = self._exec(conn, "SELECT value FROM audit_meta WHERE key = 'schema_version'")
        found = int(rows[0][0])
        if found > SCHEMA_VERSION:
            raise AuditError(
                f"audit schema version {found} was written by a newer corral "
                f"(this one knows {SCHEMA_VERSION}); upgrade corral"
            )

    # --- the write path -------------------------------------------------------

    def write(self, event: AuditEvent) -> None:
        """Append ``event`` and return once its transaction committed (acknowledged)."""
        pending = self._enqueue(event, wait=True)
        self._wait(pending)

    def submit(self, event: AuditEvent) -> None:
        """Queue ``event``; it is acknowledged when its batch commits (see :meth:`flush`).

        When the database falls behind by more than ``_BACKLOG`` events, the
        caller waits for this one's commit: memory stays bounded and nothing
        is dropped.
        """
        if self._queue.qsize() >= _BACKLOG:
            self.write(event)
        else:
            self._enqueue(event, wait=False)

    def flush(self) -> None:
        """Return once everything queued before this call is committed; raise if any failed."""
        self._wait(self._enqueue(None, wait=True))
        failed, self._failed = self._failed, None
        if failed is not None:
            raise AuditError(f"submitted audit events were not recorded: {failed}") from failed

    def _enqueue(self, event: AuditEvent | None, *, wait: bool) -> _Pending:
        if self._closed:
            raise AuditError(f"the {self.name} audit store is closed")
        if os.getpid() != self._pid:
            raise AuditError(
                f"this {self.name} audit store was opened in process {self._pid}; "
                "its writer thread does not exist after fork: open the store again"
            )
        pending = _Pending(event, wait)
        self._queue.put(pending)
        return pending

    def _wait(self, pending: _Pending) -> None:
        assert pending.done is not None
        pending.done.wait()
        if pending.error is not None:
            raise AuditError(f"audit event not recorded: {pending.error}") from pending.error

    def _run(self) -> None:
        conn: Any = None
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not _STOP and len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is _STOP
            items = [p for p in batch if p is not _STOP]
            conn = self._commit(conn, items)
            if stop:
                if conn is not None:
                    conn.close()
                return

    def _commit(self, conn: Any, items: list[_Pending]) -> Any:
        events = [p.event for p in items if p.event is not None]
        error: BaseException | None = None
        for attempt in range(_ATTEMPTS if events else 0):
            try:
                if conn is None:
                    conn = self._connect()
                self._append(conn, events, retry=attempt > 0)
                error = None
                break
            except Exception as exc:
                error = exc
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
                time.sleep(0.05 * (attempt + 1))
        for pending in items:
            if pending.done is None:
                if error is not None and pending.event is not None:
                    self._failed = error
                continue
            pending.error = error if pending.event is not None else None
            pending.done.set()
        return conn

    def _append(self, conn: Any, events: list[AuditEvent], *, retry: bool) -> None:
        with self._transaction(conn):
            if retry:
                events = self._not_yet_stored(conn, events)
            seq, prev = self._head(conn)
            rows = []
            for event in events:
                seq += 1
                linked = event.chained(host_id=self.host_id, seq=seq, prev_hash=prev)
                prev = linked.hash
                rows.append(_row(linked))
            self._execmany(conn, _INSERT, rows)
            self._exec(
                conn,
                "UPDATE audit_heads SET seq = ?, hash = ? WHERE host_id = ?",
                (seq, prev, self.host_id),
            )

    def _head(self, conn: Any) -> tuple[int, str]:
        """This host's chain head, locked for the transaction; created at genesis if new.

        The head row is read first and inserted only when missing (once per
        host id), so an append costs one statement less.
        """
        head = "SELECT seq, hash FROM audit_heads WHERE host_id = ?" + self._for_update  # noqa: S608
        rows = self._exec(conn, head, (self.host_id,))
        if not rows:
            self._exec(
                conn,
                "INSERT INTO audit_heads (host_id, seq, hash) VALUES (?, 0, ?)"
                " ON CONFLICT (host_id) DO NOTHING",
                (self.host_id, GENESIS),
            )
            rows = self._exec(conn, head, (self.host_id,))
        ((seq, prev),) = rows
        return int(seq), str(prev)

    def _not_yet_stored(self, conn: Any, events: list[AuditEvent]) -> list[AuditEvent]:
        """After a failed commit whose outcome is unknown, skip events that did land."""
        marks = ", ".join("?" for _ in events)
        rows = self._exec(
            conn,
            f"SELECT id FROM audit_events WHERE id IN ({marks})",  # noqa: S608 [e.id for e in events]
        )
        stored = {r[0] for r in rows}
        return [e for e in events if e.id not in stored]

    # --- reading --------------------------------------------------------------

    def _query(self, wanted: EventFilter, limit: int | None) -> list[AuditEvent]:
        """``query``: after a flush, so a caller reads what it wrote."""
        self.flush()
        where, params = wanted.where()
        sql = _SELECT + _where(where) + " ORDER BY time, host_id, seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_event(r) for r in self._read(sql, params)]

    def page(
        self,
        *,
        before: tuple[float, str] | None = None,
        limit: int = 50,
        **filters: Unpack[PageFilters],
    ) -> list[AuditEvent]:
        """Newest first, at most ``limit``, strictly older than the ``before`` cursor.

        The cursor is ``(time, id)`` of the last event of the previous page
        (keyset paging): each page is one index range, however deep it is,
        where an ``OFFSET`` would walk every row before it. ``until`` is
        exclusive, like :meth:`query`'s.
        """
        where, params = EventFilter(**filters).where()
        if before is not None:
            where.append("time <= ? AND (time < ? OR id < ?)")
            params.extend((float(before[0]), float(before[0]), str(before[1])))
        sql = _SELECT + _where(where) + " ORDER BY time DESC, id DESC LIMIT ?"
        params.append(max(1, int(limit)))
        return [_event(r) for r in self._read(sql, params)]

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read on the reader connection; a lost connection is replaced once."""
        with self._read_lock:
            for attempt in range(2):
                try:
                    return self._exec(self._reader, sql, params)
                except self._db_errors as exc:
                    with contextlib.suppress(Exception):
                        self._reader.close()
                    if attempt:
                        raise AuditError(f"cannot read the {self.name} audit store: {exc}") from exc
                    self._reader = self._connect()
        raise AssertionError("unreachable")

    def hosts(self) -> list[str]:
        """Every host id with a chain in this store."""
        rows = self._read(
            "SELECT host_id FROM audit_heads UNION SELECT DISTINCT host_id FROM audit_events"
        )
        return sorted(r[0] for r in rows)

    # --- verification and retention -------------------------------------------

    def verify(self, host_id: str | None = None) -> list[ChainReport]:
        """Prove each host's chain (or one host's) from its checkpoint to its head."""
        self.flush()
        hosts = [host_id] if host_id is not None else self.hosts()
        return [self._verify_host(h) for h in hosts]

    def _verify_host(self, host_id: str) -> ChainReport:
        checkpoint = self._link("audit_checkpoints", host_id)
        head = self._link("audit_heads", host_id)
        return verify_chain(
            host_id,
            self._walk(host_id),
            checkpoint=checkpoint,
            head=head,
            locate=lambda digest: self._locate(host_id, digest),
        )

    def _link(self, table: str, host_id: str) -> Link | None:
        rows = self._read(
            f"SELECT seq, hash FROM {table} WHERE host_id = ?",  # noqa: S608
            (host_id,),
        )
        return Link(int(rows[0][0]), rows[0][1]) if rows else None

    def _walk(self, host_id: str) -> Iterator[AuditEvent]:
        after = -1
        while True:
            rows = self._read(
                _SELECT + " WHERE host_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (host_id, after, _PAGE),
            )
            for row in rows:
                yield _event(row, lenient=True)
            if len(rows) < _PAGE:
                return
            after = int(rows[-1][1])

    def _locate(self, host_id: str, digest: str) -> int | None:
        rows = self._read(
            "SELECT seq FROM audit_events WHERE host_id = ? AND hash = ?", (host_id, digest)
        )
        return int(rows[0][0]) if rows else None

    def prune(
        self, older_than: str | float | timedelta, *, now: float | None = None
    ) -> list[Pruned]:
        """Delete each host's records older than ``older_than``, leaving a checkpoint.

        Only a prefix of a chain is ever deleted (up to the first record that
        is new enough), so the rest still starts from the checkpoint. A chain
        that does not verify is not pruned: that would destroy the evidence.
        The prune itself is recorded as an ``audit.pruned`` admin event.
        """
        age = to_seconds(older_than)
        cutoff = (self._clock() if now is None else now) - age
        done: list[Pruned] = []
        for report in self.verify():
            if report.problem is not None:
                raise AuditError(
                    f"refusing to prune host {report.host_id}: its chain is broken at "
                    f"{report.problem}"
                )
            pruned = self._prune_host(report.host_id, cutoff)
            if pruned is not None:
                done.append(pruned)
        self.write(
            AuditEvent(
                time=self._clock(),
                kind="audit.pruned",
                plugin="",
                decision="info",
                details={
                    "older_than_seconds": age,
                    "cutoff": cutoff,
                    "hosts": {
                        p.host_id: {"deleted": p.deleted, "checkpoint_seq": p.checkpoint.seq}
                        for p in done
                    },
                },
            )
        )
        return done

    def _prune_host(self, host_id: str, cutoff: float) -> Pruned | None:
        try:
            return self._prune_prefix(host_id, cutoff)
        except self._db_errors as exc:
            raise AuditError(f"cannot prune host {host_id}: {exc}") from exc

    def _prune_prefix(self, host_id: str, cutoff: float) -> Pruned | None:
        with self._read_lock, self._transaction(self._reader):
            conn = self._reader
            self._exec(
                conn,
                "SELECT seq FROM audit_heads WHERE host_id = ?" + self._for_update,  # noqa: S608
                (host_id,),
            )
            ((keep_from,),) = self._exec(
                conn,
                "SELECT MIN(seq) FROM audit_events WHERE host_id = ? AND time >= ?",
                (host_id, cutoff),
            )
            bound = " AND seq < ?" if keep_from is not None else ""
            params: tuple[Any, ...] = (host_id,) + ((keep_from,) if keep_from is not None else ())
            last = self._exec(
                conn,
                "SELECT seq, hash FROM audit_events WHERE host_id = ?"  # noqa: S608
                + bound
                + " ORDER BY seq DESC LIMIT 1",
                params,
            )
            if not last:
                return None
            seq, digest = int(last[0][0]), last[0][1]
            ((count,),) = self._exec(
                conn,
                "SELECT COUNT(*) FROM audit_events WHERE host_id = ? AND seq <= ?",
                (host_id, seq),
            )
            self._exec(
                conn, "DELETE FROM audit_events WHERE host_id = ? AND seq <= ?", (host_id, seq)
            )
            self._exec(
                conn,
                "INSERT INTO audit_checkpoints (host_id, seq, hash, time) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (host_id) DO UPDATE SET seq = excluded.seq,"
                " hash = excluded.hash, time = excluded.time",
                (host_id, seq, digest, self._clock()),
            )
        return Pruned(host_id, int(count), Link(seq, digest))

    # --- lifetime -------------------------------------------------------------

    def close(self) -> None:
        """Commit everything queued, stop the writer and close the connections."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._queue.put(_STOP)
            self._writer.join()
            with self._read_lock:
                self._reader.close()
            _OPEN.discard(self)

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_get_row = operator.attrgetter(*_COLUMNS)
_DETAILS = _COLUMNS.index("details")
_DETAILS_JSON = json.JSONEncoder(sort_keys=True)


def _where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _row(event: AuditEvent) -> tuple[Any, ...]:
    row = list(_get_row(event))
    row[_DETAILS] = _DETAILS_JSON.encode(event.details)
    return tuple(row)


def _event(row: Sequence[Any], *, lenient: bool = False) -> AuditEvent:
    """A stored row as an event. A row nobody could have written (edited by hand into
    something invalid) raises AuditError, or, for the verifier (``lenient``), becomes a
    placeholder whose hash cannot match, so the walk names it as edited."""
    data = dict(zip(_COLUMNS, row, strict=True))
    try:
        data["details"] = json.loads(data["details"])
        data["seq"] = int(data["seq"])
        return AuditEvent(**data)
    except (ValueError, TypeError) as exc:
        if not lenient:
            raise AuditError(
                f"record seq {data['seq']} of host {data['host_id']} is unreadable ({exc}); "
                "run corral audit verify"
            ) from None
        return AuditEvent(
            time=0.0,
            kind="admin",
            plugin="",
            host_id=str(data["host_id"]),
            id=str(data["id"]),
            seq=int(data["seq"]),
            prev_hash=str(data["prev_hash"]),
            hash="unreadable",
            details={"unreadable": str(exc)},
        )
