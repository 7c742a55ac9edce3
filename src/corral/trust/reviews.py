"""Security reviews of plugin versions (seed 001), kept in table ``trust_reviews``.

The table is in the home's ``corral.db``, or in its PostgreSQL database when
the home's hosts share one (``corral.runtime.shared.open_reviews``), so a
review recorded on one machine lets every host load the version.

A review is a person's word that they read one exact version of a plugin:
who, at which level (``internal`` or ``external``, seed 001's security
levels), their notes, and when. It is per version because the seed asks for a
review "upon version updates": 1.0.1 is not the code 1.0.0's reviewer read.

Whether a version needs one is policy (``TierSpec.requires_review``, and a
vulnerability report of a ``review_on`` severity); this module only stores
reviews and answers "is there one good enough", so the load path and the
vulnerability check ask the same question. A refusal names the command that
records the missing review, because the person reading it is the one who can
run it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corral import homedb
from corral.errors import HostError
from corral.policy.tiers import REVIEW_LEVELS

MAX_NOTES_BYTES = 64 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS trust_reviews (
    id TEXT PRIMARY KEY,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    level TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    notes TEXT NOT NULL,
    reviewed_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS trust_reviews_version ON trust_reviews (plugin, version);
"""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")


@dataclass(frozen=True)
class Review:
    """One recorded security review of one plugin version."""

    id: str
    plugin: str
    version: str
    level: str
    reviewer: str
    notes: str
    reviewed_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def meets(self, level: str) -> bool:
        """Whether this review is at ``level`` or a stronger one (external counts as internal)."""
        return REVIEW_LEVELS.index(self.level) >= REVIEW_LEVELS.index(level)


def review_command(plugin: str, version: str, level: str = "internal") -> str:
    """The command an administrator runs to record the review a refusal asks for."""
    return f"corral review {plugin} {version} --level {level} --notes FILE"


class ReviewStore:
    """The ``trust_reviews`` table of one corral home (a connection per operation).

    ``db`` is a ``corral.db`` path or a :class:`~corral.homedb.Tables` (SQLite
    or PostgreSQL); the methods and their answers are the same on both.
    """

    def __init__(
        self, db: str | Path | homedb.Tables, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.tables = db if isinstance(db, homedb.Tables) else homedb.SqliteTables(db)
        self.tables.create(_SCHEMA)
        self.clock = clock

    def add(self, plugin: str, version: str, *, level: str, notes: str, reviewer: str) -> Review:
        """Record a review; every argument is checked, since a bad one would pass a gate."""
        if not _NAME.fullmatch(plugin):
            raise HostError(f"{plugin!r} is not a plugin name")
        if not _VERSION.fullmatch(version):
            raise HostError(f"'{version}' is not a semantic version like 1.2.0")
        if level not in REVIEW_LEVELS:
            raise HostError(f"review level '{level}' is not one of {', '.join(REVIEW_LEVELS)}")
        if not notes.strip():
            raise HostError("the review notes are empty; seed 001 asks for detailed notes")
        if len(notes.encode("utf-8")) > MAX_NOTES_BYTES:
            raise HostError(f"the review notes are longer than {MAX_NOTES_BYTES} bytes")
        if not reviewer.strip():
            raise HostError("a review needs a reviewer")
        review = Review(
            uuid.uuid4().hex, plugin, version, level, reviewer.strip(), notes, self.clock()
        )
        with self.tables.transaction() as run:
            run(
                "INSERT INTO trust_reviews (id, plugin, version, level, reviewer, notes,"
                " reviewed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    review.id,
                    review.plugin,
                    review.version,
                    review.level,
                    review.reviewer,
                    review.notes,
                    review.reviewed_at,
                ),
            )
        return review

    def reviews(self, plugin: str | None = None, version: str | None = None) -> list[Review]:
        """Reviews, oldest first; of one plugin, and of one of its versions, when given."""
        query, args = "SELECT * FROM trust_reviews WHERE 1 = 1", list[str]()
        if plugin is not None:
            query += " AND plugin = ?"
            args.append(plugin)
        if version is not None:
            query += " AND version = ?"
            args.append(version)
        with self.tables.transaction() as run:
            rows = run(query + " ORDER BY reviewed_at, id", args)
        return [Review(**r) for r in rows]

    def satisfying(
        self, plugin: str, version: str, level: str, *, since: float | None = None
    ) -> Review | None:
        """The latest review of this exact version at ``level`` or above (after ``since``)."""
        found = [
            r
            for r in self.reviews(plugin, version)
            if r.meets(level) and (since is None or r.reviewed_at >= since)
        ]
        return found[-1] if found else None
