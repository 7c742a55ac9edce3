"""One event model for everything security-relevant.

An event is frozen and validated when built: a kind from a fixed vocabulary,
a decision, and bounded details. ``source`` says who vouches for it: the
host's own observation (exit status, timeouts, its own checks) or a report
from the worker, which a hostile plugin controls (DESIGN.md, "What the host
believes").
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from corral.limits import DEFAULT_LIMITS

KINDS = frozenset(
    {
        "plugin.loaded",
        "plugin.refused",
        "plugin.unloaded",
        "grant",
        "denied",
        "env.stripped",
        "call.completed",
        "call.failed",
        "timeout",
        "limit.breached",
        "limit.warning",
        "violation",
        "response",
        "plugin.state",
        "worker.started",
        "worker.crashed",
        "worker.killed",
        "hostcall",
        "unsafe",
        "state",
        "admin",
    }
)
DECISIONS = frozenset({"allow", "deny", "info"})
SOURCES = frozenset({"host", "worker"})


@dataclass(frozen=True)
class AuditEvent:
    """One audit record. ``time`` is passed in (seconds since the epoch), never read here."""

    time: float
    kind: str
    plugin: str
    decision: str = "info"
    source: str = "host"
    version: str = ""
    worker: str = ""
    host_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown audit kind {self.kind!r}")
        if self.decision not in DECISIONS:
            raise ValueError(f"unknown decision {self.decision!r}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        encoded = json.dumps(self.details, default=str)
        if len(encoded) > DEFAULT_LIMITS.audit_detail_bytes:
            object.__setattr__(self, "details", {"truncated": encoded[:1024]})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
