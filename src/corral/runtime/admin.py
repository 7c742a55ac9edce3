"""An administrator's view of a corral home from another process: states, consent, reports.

The CLI (and later the dashboard) does not run plugins; it reads and changes
what hosts share through ``CORRAL_HOME``: the ``lifecycle_*`` tables and the
audit log. A running host adopts a stored state at its monitor's next round
(``monitoring.interval_seconds``, 1 s by default); an approval takes effect
when the plugin is next loaded or reloaded.
"""

from __future__ import annotations

import collections
import getpass
import os
import time
from typing import Any

from corral.audit import AuditEvent, AuditSink, audit_target, open_store, policy_audit
from corral.errors import HostError
from corral.manifest import load_policy
from corral.runtime.home import Home
from corral.runtime.lifecycle import LifecycleStore

_CHANGES = {
    "suspend": ("suspended", ("loaded", "running", "failed", "active")),
    "resume": ("loaded", ("suspended",)),
    "disable": ("disabled", ("loaded", "running", "failed", "active", "suspended")),
    "enable": ("loaded", ("disabled",)),
}
_NOT_RECORDED = "not recorded"


class HomeAdmin:
    """Lifecycle changes and security reports for the plugins of one home."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = Home.at(home)
        self.store = LifecycleStore(self.home.db)

    # --- reading ---------------------------------------------------------------

    def events(self, plugin: str | None = None) -> list[AuditEvent]:
        """The home's audit events (whichever store its hosts write to), optionally one plugin's."""
        store = self._store()
        try:
            return store.query(plugin=plugin)
        finally:
            store.close()

    def _store(self) -> AuditSink:
        """The store this home's hosts record to: CORRAL_AUDIT_URL, policy.yaml, or corral.db."""
        policy = load_policy(self.home.policy if self.home.policy.exists() else None)
        target = audit_target(None, policy_value=policy_audit(policy), default=self.home.db)
        return open_store(target)

    def known(self) -> list[str]:
        """Every plugin this home has a record of: approved once, or given a state."""
        names = set(self.store.states())
        names.update(a.plugin for a in self.store.approvals())
        return sorted(names)

    def state(self, plugin: str) -> str:
        """``suspended`` or ``disabled`` when stored so, else ``active``."""
        stored = self.store.state(plugin)
        return stored.state if stored and stored.state in ("suspended", "disabled") else "active"

    def plugins(self) -> list[dict[str, Any]]:
        rows = []
        for name in self.known():
            approval, pending = self.store.approval(name), self.store.pending(name)
            rows.append(
                {
                    "plugin": name,
                    "state": self.state(name),
                    "approved_version": approval.version if approval else None,
                    "awaiting_approval": pending.version if pending else None,
                }
            )
        return rows

    # --- changing ---------------------------------------------------------------

    def change(self, plugin: str, verb: str, reason: str = "") -> str:
        """suspend / resume / disable / enable ``plugin``; returns the new state."""
        if plugin not in self.known():
            raise HostError(f"unknown plugin {plugin!r}: no host in {self.home.root} loaded it")
        target, allowed_from = _CHANGES[verb]
        current = self.state(plugin)
        if current not in allowed_from:
            raise HostError(f"cannot {verb} plugin {plugin!r}: it is {current}")
        self.store.set_state(plugin, target, now=time.time(), reason=reason or f"cli {verb}")
        self.record(
            "plugin.state",
            plugin,
            "info",
            state=target,
            previous=current,
            by="cli",
            reason=reason or verb,
        )
        return target

    def approve(self, plugin: str, version: str | None = None) -> tuple[str, frozenset[str]]:
        pending = self.store.pending(plugin)
        if pending is None or (version is not None and pending.version != version):
            suffix = f" for version {version}" if version else ""
            raise HostError(f"plugin {plugin!r} has no request awaiting approval{suffix}")
        self.store.approve(plugin, pending.version, pending.permissions, now=time.time())
        self.record(
            "plugin.state",
            plugin,
            "allow",
            state="approved",
            version=pending.version,
            permissions=sorted(pending.permissions),
            by="cli",
        )
        return pending.version, pending.permissions

    def record(self, kind: str, plugin: str, decision: str, /, **details: Any) -> None:
        """An admin action, acknowledged, with the operating-system user who took it.

        A ``version`` among the details is also the event's own version field.
        """
        sink = self._store()
        try:
            sink.write(
                AuditEvent(
                    time=time.time(),
                    kind=kind,
                    plugin=plugin,
                    decision=decision,
                    version=str(details.get("version", "")),
                    host_id=sink.host_id,
                    details={**details, "user": getpass.getuser()},
                )
            )
        finally:
            sink.close()

    # --- the security report (seed 004) -------------------------------------------

    def report(self, plugin: str) -> dict[str, Any]:
        """Grant, usage, violations, responses and trust status of one plugin."""
        events = self.events(plugin)
        if not events and plugin not in self.known():
            raise HostError(f"unknown plugin {plugin!r}: nothing recorded in {self.home.root}")
        by_kind: dict[str, list[AuditEvent]] = collections.defaultdict(list)
        for event in events:
            by_kind[event.kind].append(event)
        grants = by_kind.get("grant", [])
        approval, pending = self.store.approval(plugin), self.store.pending(plugin)
        stored = self.store.state(plugin)
        return {
            "plugin": plugin,
            "version": _version(grants[-1]) if grants else "",
            "state": self.state(plugin),
            "state_reason": stored.reason if stored else "",
            "grant": _grant(grants[-1].details) if grants else _NOT_RECORDED,
            "approval": {
                "approved_version": approval.version if approval else None,
                "approved_permissions": sorted(approval.permissions) if approval else [],
                "awaiting_approval": pending.version if pending else None,
                "requested_permissions": sorted(pending.permissions) if pending else [],
            },
            "usage": _usage(by_kind, self.store.usage(plugin)),
            "violations": dict(
                collections.Counter(e.details.get("type", "?") for e in by_kind["violation"])
            ),
            "responses": [
                {
                    "time": e.time,
                    "action": e.details.get("action"),
                    "type": e.details.get("type"),
                    "count": e.details.get("count"),
                    "applied": e.details.get("applied"),
                }
                for e in by_kind["response"]
            ],
            "backend": _backend(by_kind["worker.started"]),
            "connections": _connections(by_kind["network.connect"]),
            "commands": dict(
                collections.Counter(e.details.get("target", "?") for e in by_kind["command.run"])
            ),
            "denials": len(by_kind["denied"]),
            "limit_warnings": len(by_kind["limit.warning"]),
            "limit_breaches": len(by_kind["limit.breached"]),
            "signature": _latest(events, ("signature", "trust")),
            "vetting": _latest(events, ("vetting",)),
            "vulnerability": _latest(events, ("vulnerability", "vuln")),
            "audit_events": len(events),
        }


def _version(event: AuditEvent) -> str:
    """The plugin version an event names: its own field, or (older records) its details."""
    return event.version or str(event.details.get("version", ""))


def _grant(details: dict[str, Any]) -> dict[str, Any]:
    keys = ("tier", "network", "isolation", "permissions", "dropped")
    return {k: details.get(k) for k in keys}


def _backend(started: list[AuditEvent]) -> str:
    """The wall the plugin's last worker ran in (``kernel``, ``process``, ``container``)."""
    return str(started[-1].details.get("isolation", "")) if started else ""


def _connections(events: list[AuditEvent]) -> dict[str, Any]:
    """What the proxy saw: connections allowed and refused, bytes, per destination."""
    allowed = [e for e in events if e.decision == "allow"]
    destinations = collections.Counter(
        f"{e.details.get('host', '?')}:{e.details.get('port', '?')}" for e in allowed
    )
    return {
        "allowed": len(allowed),
        "refused": len(events) - len(allowed),
        "bytes_in": sum(int(e.details.get("bytes_in", 0) or 0) for e in allowed),
        "bytes_out": sum(int(e.details.get("bytes_out", 0) or 0) for e in allowed),
        "destinations": dict(destinations),
    }


def _usage(by_kind: dict[str, list[AuditEvent]], stored: dict[str, Any] | None) -> dict[str, Any]:
    calls = [e.details.get("usage", {}) for e in by_kind["call.completed"]]
    failed = len(by_kind["call.failed"]) + len(by_kind["timeout"]) + len(by_kind["worker.crashed"])
    return {
        "calls": len(calls),
        "failed_calls": failed,
        "cpu_seconds_total": round(sum(u.get("cpu_seconds", 0.0) for u in calls), 4),
        "wall_seconds_total": round(sum(u.get("wall_seconds", 0.0) for u in calls), 4),
        "peak_memory_mb_per_call": max((u.get("peak_memory_mb", 0.0) for u in calls), default=0),
        "monitor_samples": stored["samples"] if stored else 0,
        "monitor_peaks": stored["peaks"] if stored else {},
    }


def _latest(events: list[AuditEvent], prefixes: tuple[str, ...]) -> Any:
    found = [e for e in events if e.kind.startswith(prefixes)]
    return found[-1].details if found else _NOT_RECORDED
