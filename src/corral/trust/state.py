"""What trust remembers between loads, in ``corral.db`` (tables ``trust_*`` only).

Three small tables: the key each community plugin was first installed with
(trust on first use: a later package signed by another key, or unsigned, is
refused), the version installed (a lower one is a rollback), and verified
envelopes by their own SHA-256 (an envelope seen before whose store entry
exists needs no re-hash: the store already holds the bytes it lists). The
database is shared with the audit store, so it is opened in WAL mode and
nothing here touches another subsystem's tables.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from corral import homedb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trust_pins (
    plugin TEXT PRIMARY KEY, keyid TEXT NOT NULL, pinned_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trust_installed (
    plugin TEXT PRIMARY KEY, version TEXT NOT NULL, digest TEXT NOT NULL,
    keyid TEXT NOT NULL, installed_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trust_verified (
    envelope_sha256 TEXT PRIMARY KEY, digest TEXT NOT NULL, keyid TEXT NOT NULL,
    verified_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Installed:
    version: str
    digest: str
    keyid: str


class TrustState:
    """Pins, installed versions and the verification cache of one corral home."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._ready = False

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        if not self._ready:  # on first use: constructing one creates no file
            homedb.open_tables(self.db, _SCHEMA)
            self._ready = True
        return homedb.connect(self.db)

    def pinned(self, plugin: str) -> str | None:
        with self._connect() as conn:
            row = conn.execute("SELECT keyid FROM trust_pins WHERE plugin=?", (plugin,)).fetchone()
        return str(row[0]) if row else None

    def installed(self, plugin: str) -> Installed | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT version, digest, keyid FROM trust_installed WHERE plugin=?", (plugin,)
            ).fetchone()
        return Installed(*row) if row else None

    def installed_all(self) -> dict[str, Installed]:
        """Every plugin installed in this home, by name (what a vulnerability check re-vets)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT plugin, version, digest, keyid FROM trust_installed ORDER BY plugin"
            ).fetchall()
        return {str(r[0]): Installed(*r[1:]) for r in rows}

    def first_installed_at(self) -> float | None:
        """When the first plugin still listed was installed (None: nothing installed)."""
        with self._connect() as conn:
            row = conn.execute("SELECT MIN(installed_at) FROM trust_installed").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def cached(self, envelope_sha256: str) -> str | None:
        """The digest an identical envelope was verified for before, if any."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT digest FROM trust_verified WHERE envelope_sha256=?", (envelope_sha256,)
            ).fetchone()
        return str(row[0]) if row else None

    def record_install(
        self,
        plugin: str,
        version: str,
        digest: str,
        keyid: str,
        *,
        pin: bool,
        envelope_sha256: str,
        now: float,
    ) -> None:
        """Remember an installed package; pin its key when it is the plugin's first."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO trust_installed VALUES (?,?,?,?,?) ON CONFLICT(plugin) DO UPDATE "
                "SET version=excluded.version, digest=excluded.digest, keyid=excluded.keyid, "
                "installed_at=excluded.installed_at",
                (plugin, version, digest, keyid, now),
            )
            if pin and keyid:
                conn.execute(
                    "INSERT OR IGNORE INTO trust_pins VALUES (?,?,?)", (plugin, keyid, now)
                )
            if envelope_sha256:
                conn.execute(
                    "INSERT OR IGNORE INTO trust_verified VALUES (?,?,?,?)",
                    (envelope_sha256, digest, keyid, now),
                )
