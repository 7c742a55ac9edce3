"""The audit log: one event model, one sink interface, hash-chained stores."""

from corral.audit.chain import ChainReport, Link, Problem, verify_chain
from corral.audit.events import DECISIONS, KINDS, SOURCES, AuditEvent
from corral.audit.factory import ENV_URL, audit_target, describe, open_store, policy_audit
from corral.audit.retention import DEFAULT_RETENTION, parse_duration
from corral.audit.sinks import AuditSink, JsonlSink, MemorySink, default_host_id
from corral.audit.store import Pruned, SqlStore

__all__ = [
    "DECISIONS",
    "DEFAULT_RETENTION",
    "ENV_URL",
    "KINDS",
    "SOURCES",
    "AuditEvent",
    "AuditSink",
    "ChainReport",
    "JsonlSink",
    "Link",
    "MemorySink",
    "Problem",
    "Pruned",
    "SqlStore",
    "audit_target",
    "default_host_id",
    "describe",
    "open_store",
    "parse_duration",
    "policy_audit",
    "verify_chain",
]
