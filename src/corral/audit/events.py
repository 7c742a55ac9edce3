"""One event model for everything security-relevant.

An event is frozen and validated when built: a kind from a fixed vocabulary,
a decision, and bounded details. ``source`` says who vouches for it: the
host's own observation (exit status, timeouts, its own checks) or a report
from the worker, which a hostile plugin controls (DESIGN.md, "What the host
believes").

The chain fields (``seq``, ``prev_hash``, ``hash``) are empty on a fresh
event: a store assigns them when it appends, under its own serialisation, so
that concurrent writers still form one chain per host. ``details`` are
normalised to plain JSON values on construction, so what a store hashes is
exactly what it keeps and what a verifier later reads back.
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
import os
from dataclasses import dataclass, field, fields
from typing import Any

from corral.limits import DEFAULT_LIMITS

KINDS = frozenset(
    {
        "plugin.loaded",
        "plugin.refused",
        "plugin.unloaded",
        "plugin.state",
        "grant",
        "denied",
        "command.run",
        "env.stripped",
        "call.completed",
        "call.failed",
        "timeout",
        "limit.warning",
        "limit.breached",
        "violation",
        "response",
        "worker.started",
        "worker.crashed",
        "worker.killed",
        "hostcall",
        "hook.registered",
        "hook.called",
        "plugin.action",
        "network.connect",
        "unsafe",
        "state",
        "admin",
        "signature.verified",
        "signature.failed",
        "vetting.finding",
        "vuln.reported",
        "vuln.resolved",
        "vuln.gate",
        "vuln.check",
        "vuln.action",
        "vuln.deadline",
        "review.recorded",
        "audit.pruned",
    }
)
DECISIONS = frozenset({"allow", "deny", "info"})
SOURCES = frozenset({"host", "worker"})

GENESIS = "0" * 64
"""``prev_hash`` of the first record of a host's chain."""

_CHAIN_FIELDS = ("seq", "prev_hash", "hash")


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits, as ``uuid.uuid4().hex`` writes it.

    Without building a ``UUID`` object: this runs for every audit event.
    """
    value = int.from_bytes(os.urandom(16), "big")
    value = (value & ~(0xF000 << 64) | (4 << 76)) & ~(0xC000 << 48) | (0x8000 << 48)
    return f"{value:032x}"


@dataclass(frozen=True)
class AuditEvent:
    """One audit record. ``time`` is passed in (seconds since the epoch), never read here."""

    time: float
    kind: str
    plugin: str
    decision: str = "info"
    source: str = "host"
    version: str = ""
    digest: str = ""
    worker: str = ""
    host_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown audit kind {self.kind!r}")
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown decision {self.decision!r}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        object.__setattr__(self, "time", float(self.time))
        encoded = _NORMALISE.encode(self.details)
        if len(encoded) > DEFAULT_LIMITS.audit_detail_bytes:
            object.__setattr__(self, "details", {"truncated": encoded[:1024]})
        else:
            object.__setattr__(self, "details", _PARSE.decode(encoded))

    def to_dict(self) -> dict[str, Any]:
        """Every field by name; ``details`` is a copy (dataclasses.asdict is 10x slower)."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["details"] = copy.deepcopy(self.details)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEvent:
        """Rebuild an event from :meth:`to_dict` output, ignoring keys it does not know."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def canonical(self) -> bytes:
        """The bytes the chain hash covers: every field but ``hash``, in one fixed encoding.

        Sorted keys, no whitespace, floats in Python's shortest round-trip
        repr, UTF-8: any store that keeps the fields exactly reproduces the
        same bytes, so a verifier needs nothing but the record itself.
        """
        data = dict(zip(_HASHED, _get_hashed(self), strict=True))
        return _CANONICAL.encode(data).encode("utf-8")

    def compute_hash(self) -> str:
        """``sha256(prev_hash || canonical)`` as hex."""
        return hashlib.sha256(self.prev_hash.encode("ascii") + self.canonical()).hexdigest()

    def chained(self, *, host_id: str, seq: int, prev_hash: str) -> AuditEvent:
        """This event as record ``seq`` of ``host_id``'s chain, after ``prev_hash``."""
        # A shallow copy, not dataclasses.replace: this runs on the writer thread for
        # every event, and the fields were validated when the event was built.
        linked = object.__new__(AuditEvent)
        linked.__dict__.update(self.__dict__, host_id=host_id, seq=seq, prev_hash=prev_hash)
        object.__setattr__(linked, "hash", linked.compute_hash())
        return linked


_FIELDS = tuple(f.name for f in fields(AuditEvent))
_HASHED = tuple(name for name in _FIELDS if name != "hash")
_get_hashed = operator.attrgetter(*_HASHED)
# One encoder for every event: building one per call was a third of the chain's cost.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# Built once: json.dumps with options builds a new encoder on every call.
_NORMALISE = json.JSONEncoder(default=str, sort_keys=True)
_PARSE = json.JSONDecoder()
