"""A finding: one rule's verdict on one place in one file, stable across edits.

The fingerprint is what host-side suppressions key on, so it must not change
when unrelated lines are added above the code: it hashes the rule, the
file, the enclosing function and the normalised source of the node (plus an
occurrence number for identical nodes in one function), never the line.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
Confidence = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
CONFIDENCES: tuple[Confidence, ...] = ("low", "medium", "high")


def fingerprint(rule: str, path: str, scope: str, source: str, occurrence: int = 0) -> str:
    """A short stable hash; ``source`` is already normalised (``ast.unparse``)."""
    text = "\x1f".join((rule, path, scope, " ".join(source.split()), str(occurrence)))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class Finding:
    """One place that a rule flags, with the permission it would need (if any)."""

    rule: str
    name: str
    severity: Severity
    confidence: Confidence
    path: str
    line: int
    col: int
    message: str
    needs: str = ""
    fingerprint: str = ""
    scope: str = ""
    subject: str = ""
    tool: str = "corral"

    @property
    def where(self) -> str:
        """``file:line:col`` (columns count from 1, like editors and SARIF)."""
        return f"{self.path}:{self.line}:{self.col}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)
