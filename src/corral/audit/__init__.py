"""The audit log: one event model, one sink interface, several stores."""

from corral.audit.events import AuditEvent
from corral.audit.sinks import AuditSink, JsonlSink, MemorySink

__all__ = ["AuditEvent", "AuditSink", "JsonlSink", "MemorySink"]
