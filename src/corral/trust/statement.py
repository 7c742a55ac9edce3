"""The signed statement: in-toto Statement v1 listing every file with its SHA-256.

The predicate is corral's own (``PREDICATE_TYPE``): the plugin's name and
version (so a statement for one plugin cannot be replayed for another or for
an older release), the publisher, and the window the signature is valid in.
Parsing happens only after a signature over these exact bytes has verified.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from corral.errors import SignatureError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://corral.dev/attestation/plugin-package/v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Digest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _HEX64.fullmatch(value):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return value


class Subject(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    digest: Digest


class Predicate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    publisher: str
    not_before: datetime
    expires: datetime

    @field_validator("not_before", "expires")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("a time must carry its zone (e.g. 2026-01-01T00:00:00Z)")
        return value


class Statement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    type_: str = Field(alias="_type")
    subject: tuple[Subject, ...]
    predicate_type: str = Field(alias="predicateType")
    predicate: Predicate

    def files(self) -> dict[str, str]:
        """Subject name -> hex SHA-256 (names are unique once parsed)."""
        return {s.name: s.digest.sha256 for s in self.subject}


def build(
    files: dict[str, str],
    *,
    name: str,
    version: str,
    publisher: str,
    not_before: datetime,
    expires: datetime,
) -> bytes:
    """Statement JSON bytes, ready to be signed as they are."""
    doc = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(files.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "name": name,
            "version": version,
            "publisher": publisher,
            "not_before": _iso(not_before),
            "expires": _iso(expires),
        },
    }
    return json.dumps(doc, indent=2, sort_keys=False).encode("utf-8")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(payload: bytes) -> Statement:
    """A verified payload as a ``Statement``; anything else is a ``SignatureError``."""
    try:
        statement = Statement.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SignatureError(f"signed statement invalid at {where}: {first['msg']}") from None
    if statement.type_ != STATEMENT_TYPE:
        raise SignatureError(f"signed statement _type {statement.type_!r} is not {STATEMENT_TYPE}")
    if statement.predicate_type != PREDICATE_TYPE:
        raise SignatureError(
            f"signed statement predicateType {statement.predicate_type!r} is not {PREDICATE_TYPE}"
        )
    names = [s.name for s in statement.subject]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SignatureError(f"signed statement lists {dup!r} more than once")
    return statement
