"""Vetting results cached by package digest in ``corral.db`` (DESIGN.md, "Workers").

Loading an installed package again should cost a lookup, not a re-vet. The
key is the store digest (the verified bytes) plus a fingerprint of the rule
code itself, so upgrading corral or changing a rule invalidates old entries
instead of trusting verdicts the new rules never gave. What is cached is the
raw findings; suppressions and the manifest cross-check are applied on every
load, because policy and manifest may change without the bytes changing.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path

from corral import homedb
from corral.limits import DEFAULT_LIMITS, Limits
from corral.vetting.finding import Finding

SCHEMA = """
CREATE TABLE IF NOT EXISTS vetting_results (
    digest TEXT NOT NULL,
    ruleset TEXT NOT NULL,
    files INTEGER NOT NULL,
    findings TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (digest, ruleset)
);
"""


@cache
def _code_digest() -> str:
    """SHA-256 over the vetting package's own source: any rule change is a new ruleset."""
    outer = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        outer.update(path.relative_to(root).as_posix().encode() + b"\0")
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.hexdigest()


def ruleset_id(limits: Limits = DEFAULT_LIMITS) -> str:
    """What a cached verdict depends on besides the bytes: the rule code and the size cap."""
    return f"{_code_digest()[:32]}-{limits.vet_file_bytes}"


class VettingCache:
    """The ``vetting_results`` table."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = homedb.open_tables(path, SCHEMA)
        self.clock = clock

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return homedb.connect(self.path)

    def get(self, digest: str, ruleset: str) -> tuple[list[Finding], int] | None:
        """The findings and file count vetted for ``digest``, or None if never vetted."""
        with self._db() as db:
            row = db.execute(
                "SELECT findings, files FROM vetting_results WHERE digest = ? AND ruleset = ?",
                (digest, ruleset),
            ).fetchone()
        if row is None:
            return None
        return [Finding.from_dict(item) for item in json.loads(row[0])], int(row[1])

    def put(self, digest: str, ruleset: str, findings: list[Finding], files: int) -> None:
        data = json.dumps([f.to_dict() for f in findings])
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO vetting_results"
                " (digest, ruleset, files, findings, created_at) VALUES (?, ?, ?, ?, ?)",
                (digest, ruleset, files, data, self.clock()),
            )
