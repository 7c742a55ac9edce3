"""The keyring: the keys an administrator trusts, and for which tier.

``keyring.toml`` in ``CORRAL_HOME`` (or any path), one ``[[key]]`` table per
key::

    [[key]]
    keyid = "9f2c..."                # sha256 of the raw public key (see keys.py)
    publisher = "acme"
    tier = "professional"            # professional = trusted signer,
                                     # enterprise = verified publisher
    public_key = \"\"\"-----BEGIN PUBLIC KEY-----
    ...
    -----END PUBLIC KEY-----\"\"\"
    not_before = 2026-01-01T00:00:00Z
    not_after = 2027-01-01T00:00:00Z
    revoked = false
    # revoked_at = 2026-06-01T00:00:00Z

The listed ``keyid`` must be the id of the listed key: a mismatch is an error
in the file, not something to resolve by picking one. A revoked key is refused
whatever ``revoked_at`` says, because corral has no trusted timestamp that
would prove a signature was made before the revocation; ``revoked_at`` is for
the people reading the file and the audit log. A keyring that group or others
may write is refused: whoever can write it decides what is trusted. An entry
whose window (``not_before`` to ``not_after``) is shorter than 90 days is
refused (seed 001's minimum validity); outside its window a key vouches for
nothing, so a package it signed is refused once it expires.
"""

from __future__ import annotations

import os
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from corral.errors import SignatureError, TrustError
from corral.limits import DEFAULT_LIMITS
from corral.trust import keys

KeyTier = Literal["community", "professional", "enterprise"]
MIN_KEY_VALIDITY = timedelta(days=90)
"""Seed 001's minimum validity period of a signing key: a key trusted for less
would have to be replaced before most packages it signs are even reviewed."""


class KeyEntry(BaseModel):
    """One trusted key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keyid: str
    publisher: str
    tier: KeyTier
    public_key: str
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked: bool = False
    revoked_at: datetime | None = None

    @field_validator("not_before", "not_after", "revoked_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _long_enough(self) -> KeyEntry:
        if self.not_before is not None and self.not_after is not None:
            span = self.not_after - self.not_before
            if span < MIN_KEY_VALIDITY:
                days = span.total_seconds() / 86400
                raise ValueError(
                    f"key {self.keyid[:16]} is valid for {days:.1f} days "
                    f"({self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}); seed 001 "
                    f"requires signing keys valid for at least {MIN_KEY_VALIDITY.days} days"
                )
        return self

    @model_validator(mode="after")
    def _id_matches(self) -> KeyEntry:
        key = keys.load_public(self.public_key, f"key {self.keyid[:16]}")
        actual = keys.keyid(key)
        if actual != self.keyid:
            raise ValueError(f"keyid {self.keyid} is not the id of its public_key ({actual})")
        return self

    def key(self) -> keys.PublicKey:
        return keys.load_public(self.public_key, f"key {self.keyid}")

    def problem(self, now: datetime) -> str:
        """Why this key may not vouch for anything at ``now``, or '' when it may."""
        if self.revoked:
            when = f" on {self.revoked_at:%Y-%m-%d}" if self.revoked_at else ""
            return f"key {self.keyid} ({self.publisher}) was revoked{when}"
        if self.not_before is not None and now < self.not_before:
            return f"key {self.keyid} ({self.publisher}) is not valid before {self.not_before}"
        if self.not_after is not None and now > self.not_after:
            return f"key {self.keyid} ({self.publisher}) expired on {self.not_after}"
        return ""


class Keyring:
    """The trusted keys by id."""

    def __init__(self, entries: tuple[KeyEntry, ...] = (), path: Path | None = None) -> None:
        self.entries = entries
        self.path = path
        self._by_id = {e.keyid: e for e in entries}

    def get(self, key_id: str) -> KeyEntry | None:
        return self._by_id.get(key_id)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> Keyring:
        """The keyring in ``path``; an empty keyring when the file does not exist."""
        if path is None:
            return cls()
        file = Path(path)
        if not file.exists():
            return cls(path=file)
        if file.stat().st_mode & 0o022:
            raise TrustError(
                f"{file}: writable by group or others, so anyone who can write it decides "
                f"which keys are trusted; make it writable by its owner only (chmod 644)"
            )
        data = file.read_bytes()
        if len(data) > DEFAULT_LIMITS.keyring_bytes:
            raise TrustError(f"{file}: larger than {DEFAULT_LIMITS.keyring_bytes} bytes")
        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise TrustError(f"{file}: not valid TOML ({exc})") from None
        raw = doc.get("key", [])
        if not isinstance(raw, list) or set(doc) - {"key"}:
            raise TrustError(f"{file}: expected only [[key]] tables")
        entries: list[KeyEntry] = []
        for index, item in enumerate(raw):
            try:
                entries.append(KeyEntry.model_validate(item))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                msg = str((err.get("ctx") or {}).get("error") or err["msg"])
                where = f"key[{index}]" + (f".{field}" if field else "")
                raise TrustError(f"{file}: {where}: {msg}") from None
            except SignatureError as exc:
                raise TrustError(f"{file}: key[{index}]: {exc}") from None
        ids = [e.keyid for e in entries]
        if len(set(ids)) != len(ids):
            raise TrustError(f"{file}: a keyid is listed twice")
        return cls(tuple(entries), file)

    def with_entry(self, entry: KeyEntry) -> Keyring:
        """This keyring with ``entry`` added or replaced (by keyid)."""
        rest = tuple(e for e in self.entries if e.keyid != entry.keyid)
        return Keyring((*rest, entry), self.path)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the keyring as TOML (atomically: a reader never sees half a file)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise TrustError("no path to save the keyring to")
        doc: dict[str, Any] = {
            "key": [e.model_dump(mode="python", exclude_none=True) for e in self.entries]
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(tomli_w.dumps(doc, multiline_strings=True).encode("utf-8"))
        tmp.chmod(0o644)
        os.replace(tmp, target)
        return target
