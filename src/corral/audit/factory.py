"""One way to name an audit store: ``open_store(url_or_path)``, and which one is in force.

Accepted: ``"memory"``; ``"postgresql://..."`` (or ``postgres://``);
``"sqlite:///relative/path"`` and ``"sqlite:////absolute/path"``; a path
ending in ``.jsonl`` (the JSONL sink); any other plain path (SQLite).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from corral.audit.sinks import AuditSink, JsonlSink, MemorySink, default_host_id
from corral.errors import AuditError
from corral.policy import AdminPolicy

_PG = ("postgresql://", "postgres://")
ENV_URL = "CORRAL_AUDIT_URL"


def open_store(
    target: str | os.PathLike[str],
    *,
    host_id: str | None = None,
    clock: Callable[[], float] = time.time,
) -> AuditSink:
    """Open (creating if needed) the audit store ``target`` names, for host ``host_id``."""
    host = host_id or default_host_id()
    text = os.fspath(target)
    if text == "memory":
        return MemorySink(host)
    if text.startswith(_PG):
        from corral.audit.postgres import PostgresStore

        return PostgresStore(text, host_id=host, clock=clock)
    if text.startswith("sqlite://"):
        if not text.startswith("sqlite:///"):
            raise AuditError(f"cannot read audit URL {text!r}: write sqlite:///path/to/corral.db")
        text = text[len("sqlite:///") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise AuditError(
            f"unknown audit store scheme {scheme!r} in {_redact(text)!r}: "
            "use postgresql://..., sqlite:///path, a file path or 'memory'"
        )
    if text.endswith(".jsonl"):
        return JsonlSink(text, host)
    from corral.audit.sqlite import SqliteStore

    return SqliteStore(text, host_id=host, clock=clock)


def audit_target(
    explicit: str | None,
    *,
    policy_value: str | None,
    default: Path,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The store in force: explicit, ``$CORRAL_AUDIT_URL``, policy.yaml's ``audit``, the default."""
    return explicit or environ.get(ENV_URL) or policy_value or str(default)


def policy_audit(policy: AdminPolicy) -> str | None:
    """``audit:`` in policy.yaml, a section the policy model keeps aside for this package."""
    value = (policy.model_extra or {}).get("audit")
    if value is not None and not isinstance(value, str):
        raise AuditError(f"policy.yaml: audit: must be a store URL or path, not {value!r}")
    return value


def describe(target: str) -> str:
    """``target`` safe to print: a password in a URL is masked."""
    return _redact(target)


def _redact(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
