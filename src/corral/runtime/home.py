"""Where a host keeps its data: ``CORRAL_HOME`` and the paths inside it.

The CLI and the dashboard find a host's data the same way from another
process, so the layout is one small value object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    """``$CORRAL_HOME``, else ``$XDG_DATA_HOME/corral``, else ``~/.local/share/corral``."""
    if env := os.environ.get("CORRAL_HOME"):
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "corral"


@dataclass(frozen=True)
class Home:
    """The directories and files of one corral home."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None) -> Home:
        home = cls(Path(root) if root is not None else default_home())
        home.root.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def policy(self) -> Path:
        return self.root / "policy.yaml"

    @property
    def audit_jsonl(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def db(self) -> Path:
        """``corral.db``: lifecycle state and approvals (and the audit store's tables)."""
        return self.root / "corral.db"
