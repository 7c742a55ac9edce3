"""What seed 001's vulnerability cycle remembers between checks, in ``corral.db``.

Three small tables beside ``vuln_reports``:

- ``vuln_checks``: one row per run of the check (when, by whom, how many
  plugins, how many flagged or disabled), so ``corral vuln check --status``,
  ``corral plugins list`` and a host deciding whether the check is overdue all
  read the same answer;
- ``vuln_deadlines``: a fix deadline per (plugin, report), opened when a check
  first finds an installed version affected by a report whose severity has a
  deadline, closed (``met_at``) when that stops being true, and marked
  ``passed_at`` the first time a check runs past it, so the audit event for a
  missed deadline is written once;
- ``vuln_holds``: the plugins the cycle itself disabled, with the reason it
  stored. Only a hold is lifted automatically when a fixed version is
  installed, and only while the stored lifecycle reason is still the hold's:
  an administrator who disabled the plugin for a reason of their own keeps it
  disabled.

Times are passed in (an injected clock), never read here, so the whole cycle
is testable without sleeping.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corral import homedb

DAY = 86400.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vuln_checks (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    plugins INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    by TEXT NOT NULL DEFAULT '',
    host_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS vuln_checks_finished ON vuln_checks (finished_at);
CREATE TABLE IF NOT EXISTS vuln_deadlines (
    plugin TEXT NOT NULL,
    vuln_id TEXT NOT NULL,
    version TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened_at REAL NOT NULL,
    due REAL NOT NULL,
    met_at REAL,
    passed_at REAL,
    PRIMARY KEY (plugin, vuln_id)
);
CREATE TABLE IF NOT EXISTS vuln_holds (
    plugin TEXT PRIMARY KEY,
    vuln_id TEXT NOT NULL,
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    since REAL NOT NULL
);
"""


@dataclass(frozen=True)
class CheckRun:
    """One completed run of the vulnerability check."""

    id: str
    started_at: float
    finished_at: float
    plugins: int
    flagged: int
    disabled: int
    errors: int
    by: str = ""
    host_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Deadline:
    """A fix deadline for one report against one plugin."""

    plugin: str
    vuln_id: str
    version: str
    severity: str
    opened_at: float
    due: float
    met_at: float | None = None
    passed_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hold:
    """A plugin the cycle disabled, and the lifecycle reason it stored when it did."""

    plugin: str
    vuln_id: str
    version: str
    reason: str
    since: float


class CycleStore:
    """The cycle's tables in one ``corral.db`` (WAL; a short connection per operation)."""

    def __init__(self, db: str | Path) -> None:
        self.db = homedb.open_tables(db, _SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return homedb.connect(self.db)

    # --- runs ----------------------------------------------------------------------

    def record_run(
        self,
        *,
        started_at: float,
        finished_at: float,
        plugins: int,
        flagged: int,
        disabled: int,
        errors: int,
        by: str = "",
        host_id: str = "",
    ) -> CheckRun:
        run = CheckRun(
            uuid.uuid4().hex,
            started_at,
            finished_at,
            plugins,
            flagged,
            disabled,
            errors,
            by,
            host_id,
        )
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO vuln_checks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                tuple(run.to_dict().values()),
            )
        return run

    def last_run(self) -> CheckRun | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM vuln_checks ORDER BY finished_at DESC, id LIMIT 1"
            ).fetchone()
        return CheckRun(**dict(row)) if row else None

    def next_due(self, interval_days: float, first_install: float | None) -> float | None:
        """When the next check is due: an interval after the last run, else after the first
        install (a fresh home has just vetted everything it has); None with nothing installed.
        """
        last = self.last_run()
        start = last.finished_at if last is not None else first_install
        return None if start is None else start + interval_days * DAY

    # --- deadlines -----------------------------------------------------------------

    def open_deadline(
        self, plugin: str, vuln_id: str, version: str, severity: str, *, now: float, due: float
    ) -> tuple[Deadline, bool]:
        """The open deadline for this report, opened now unless one is open already."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM vuln_deadlines WHERE plugin = ? AND vuln_id = ?",
                (plugin, vuln_id),
            ).fetchone()
            if row is not None and row["met_at"] is None:
                return Deadline(**dict(row)), False
            conn.execute(
                "INSERT OR REPLACE INTO vuln_deadlines VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (plugin, vuln_id, version, severity, now, due),
            )
        return Deadline(plugin, vuln_id, version, severity, now, due), True

    def deadlines(self, plugin: str | None = None, *, open_only: bool = True) -> list[Deadline]:
        query, args = "SELECT * FROM vuln_deadlines WHERE 1 = 1", []
        if plugin is not None:
            query += " AND plugin = ?"
            args.append(plugin)
        if open_only:
            query += " AND met_at IS NULL"
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY due, plugin, vuln_id", args).fetchall()
        return [Deadline(**dict(r)) for r in rows]

    def close_deadline(self, plugin: str, vuln_id: str, *, now: float) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE vuln_deadlines SET met_at = ? WHERE plugin = ? AND vuln_id = ?",
                (now, plugin, vuln_id),
            )

    def mark_passed(self, plugin: str, vuln_id: str, *, now: float) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE vuln_deadlines SET passed_at = ? WHERE plugin = ? AND vuln_id = ?",
                (now, plugin, vuln_id),
            )

    # --- holds ---------------------------------------------------------------------

    def hold(self, plugin: str, vuln_id: str, version: str, reason: str, *, now: float) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO vuln_holds VALUES (?, ?, ?, ?, ?)",
                (plugin, vuln_id, version, reason, now),
            )

    def held(self, plugin: str) -> Hold | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM vuln_holds WHERE plugin = ?", (plugin,)).fetchone()
        return Hold(**dict(row)) if row else None

    def release(self, plugin: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM vuln_holds WHERE plugin = ?", (plugin,))
