"""Dashboard administrators: names, roles and scrypt password hashes in ``corral.db``.

Why scrypt from :mod:`hashlib`: it is a memory-hard KDF in the standard
library, so the console of a security product needs no extra native wheel to
store a password properly. Each hash carries its own salt and parameters, so
the cost can be raised later without invalidating old accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

from corral import homedb
from corral.errors import HostError

Role = Literal["admin", "read-only"]
ROLES: tuple[Role, ...] = ("admin", "read-only")

# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and ~0.1 s per check on this kind of machine.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 12

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dashboard_admins ("
    " name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,"
    " created REAL NOT NULL)"
)


@dataclass(frozen=True)
class Admin:
    """Who is logged in, and what they may do."""

    name: str
    role: Role

    @property
    def can_change(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$key`` (hex), salt fresh per hash."""
    salt = secrets.token_bytes(16)
    key = _derive(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(password, bytes.fromhex(salt), int(n), int(r), int(p))
        return hmac.compare_digest(derived, bytes.fromhex(key))
    except ValueError:
        return False


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32
    )


# A hash to check against when the name is unknown, so a wrong name costs as long as a
# wrong password and timing does not tell which names exist.
_DUMMY = hash_password(secrets.token_hex(16))


class Accounts:
    """The ``dashboard_admins`` table of one home's ``corral.db``."""

    def __init__(self, db: str | os.PathLike[str]) -> None:
        self.path = homedb.open_tables(db, SCHEMA)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return homedb.connect(self.path)

    def add(self, name: str, password: str, role: Role = "admin") -> Admin:
        """Create or replace an administrator (replacing resets the password and role)."""
        if not _NAME.match(name):
            raise HostError(
                f"admin name {name!r} is not allowed: use 1-64 letters, digits, '_', '.', '@', '-'"
            )
        if role not in ROLES:
            raise HostError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise HostError(f"password too short: use at least {MIN_PASSWORD} characters")
        with self._db() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO dashboard_admins VALUES (?, ?, ?, ?)",
                (name, role, hash_password(password), time.time()),
            )
        return Admin(name, role)

    def authenticate(self, name: str, password: str) -> Admin | None:
        """The admin when the password matches, else None (same cost either way)."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT role, password FROM dashboard_admins WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            check_password(password, _DUMMY)
            return None
        if not check_password(password, row[1]):
            return None
        return Admin(name, row[0])

    def get(self, name: str) -> Admin | None:
        """The account as stored now: a session of a removed admin stops working."""
        with self._db() as conn:
            row = conn.execute(
                "SELECT role FROM dashboard_admins WHERE name = ?", (name,)
            ).fetchone()
        return Admin(name, row[0]) if row else None

    def names(self) -> list[str]:
        with self._db() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM dashboard_admins ORDER BY name")]
