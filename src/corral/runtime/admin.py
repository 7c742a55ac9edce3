"""An administrator's view of a corral home from another process: plugins, states, consent.

The CLI (and later the dashboard) does not run plugins; it reads and changes
what hosts share: the lifecycle tables (in ``corral.db``, or in PostgreSQL
when the home's audit log is there), the verified store and the audit log. A
running host adopts a stored state before its next call (and at every
monitor round); an approval takes effect when the plugin is next loaded or
reloaded. Every change is an audit event carrying the operating-system user.
"""

from __future__ import annotations

import collections
import getpass
import os
import shutil
import time
from pathlib import Path
from typing import Any

from corral.audit import AuditEvent, AuditSink, audit_target, open_store, policy_audit
from corral.errors import CorralError, HostError
from corral.manifest import load_policy
from corral.policy import AdminPolicy
from corral.runtime.control import awaiting
from corral.runtime.home import Home
from corral.runtime.lifecycle import LifecycleStore, lifecycle_target, open_lifecycle
from corral.runtime.shared import open_reviews, open_vulns
from corral.trust import ReviewStore, TrustState, read_manifest
from corral.vetting import Finding
from corral.vetting.vulns import VulnStore, last_check, score

_CHANGES = {
    "suspend": ("suspended", ("loaded", "running", "failed", "active")),
    "resume": ("loaded", ("suspended",)),
    "disable": ("disabled", ("loaded", "running", "failed", "active", "suspended")),
    "enable": ("loaded", ("disabled",)),
}
_NOT_RECORDED = "not recorded"
UNINSTALLED = "uninstalled"
"""The reason stored with the ``disabled`` state an uninstall leaves behind."""


class HomeAdmin:
    """Lifecycle changes, installs and security reports for the plugins of one home."""

    def __init__(
        self, home: str | os.PathLike[str] | None = None, *, audit: str | None = None
    ) -> None:
        self.home = Home.at(home)
        self.audit = audit
        self.policy: AdminPolicy = load_policy(
            self.home.policy if self.home.policy.exists() else None
        )
        self.store: LifecycleStore = open_lifecycle(
            lifecycle_target(self.home.db, self.policy, audit)
        )

    def close(self) -> None:
        self.store.close()

    def vulns(self) -> VulnStore:
        """The home's vulnerability reports, where its hosts read them (beside lifecycle state)."""
        return open_vulns(self.store.target)

    def reviews(self) -> ReviewStore:
        """The home's security reviews, where its hosts read them (beside lifecycle state)."""
        return open_reviews(self.store.target)

    # --- reading ---------------------------------------------------------------

    def events(self, plugin: str | None = None) -> list[AuditEvent]:
        """The home's audit events (whichever store its hosts write to), optionally one plugin's."""
        store = self._store()
        try:
            return store.query(plugin=plugin)
        finally:
            store.close()

    def _store(self) -> AuditSink:
        """Where this home's hosts record: explicit, CORRAL_AUDIT_URL, policy.yaml, corral.db."""
        target = audit_target(
            self.audit, policy_value=policy_audit(self.policy), default=self.home.db
        )
        return open_store(target)

    def known(self) -> list[str]:
        """Every plugin this home has a record of: approved once, asked, or given a state."""
        names = set(self.store.states())
        names.update(a.plugin for a in self.store.approvals())
        return sorted(names)

    def state(self, plugin: str) -> str:
        """``suspended`` or ``disabled`` when stored so, else ``active``."""
        stored = self.store.state(plugin)
        return stored.state if stored and stored.state in ("suspended", "disabled") else "active"

    def plugins(self) -> list[dict[str, Any]]:
        """One row per known plugin: the lifecycle columns only (``corral plugins`` of old)."""
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

    def listing(self) -> list[dict[str, Any]]:
        """``corral plugins list``: each known plugin with its trust, vetting and violations."""
        return [self._row(name, self.events(name)) for name in self.known()]

    def _row(self, name: str, events: list[AuditEvent]) -> dict[str, Any]:
        installed = TrustState(self.home.db).installed(name)
        approval, pending = self.store.approval(name), self.store.pending(name)
        stored = self.store.state(name)
        # This machine's store first; else the shared audit log (a CLI on another machine).
        granted_any = [e for e in events if e.kind == "grant"]
        version = (
            installed.version
            if installed
            else _version(granted_any[-1])
            if granted_any
            else approval.version
            if approval
            else ""
        )
        grants = [e for e in granted_any if _version(e) == version]
        findings = _findings(events, version)
        vulns = self.vulns().affecting(name, version) if version else []
        violations = [e for e in events if e.kind == "violation"]
        # This home's record of check runs first; else the shared audit log.
        run = last_check(self.home.db)
        checked = [e.time for e in events if e.kind.startswith("vuln.check")]
        return {
            "plugin": name,
            "version": version,
            "tier": grants[-1].details.get("tier") if grants else None,
            "state": self.state(name),
            "state_reason": stored.reason if stored else "",
            "signature": _signature(events, version, installed.keyid if installed else None),
            "vetting": dict(collections.Counter(f.severity for f in findings)),
            "vulnerability_score": score(findings, vulns).value,
            "last_violation": (
                {
                    "time": violations[-1].time,
                    "type": violations[-1].details.get("type"),
                    "cause": violations[-1].details.get("cause"),
                }
                if violations
                else None
            ),
            "vuln_checked": run.finished_at if run else checked[-1] if checked else None,
            "approved_version": approval.version if approval else None,
            "awaiting_approval": pending.version if pending else None,
        }

    def show(self, plugin: str) -> dict[str, Any]:
        """``corral plugins show``: manifest, requested vs granted with reasons, usage peaks."""
        events = self.events(plugin)
        if plugin not in self.known() and not events:
            raise HostError(f"unknown plugin {plugin!r}: nothing recorded in {self.home.root}")
        row = self._row(plugin, events)
        installed = TrustState(self.home.db).installed(plugin)
        manifest: dict[str, Any] | None = None
        if installed is not None and (self.home.store / installed.digest).is_dir():
            try:
                manifest = read_manifest(self.home.store / installed.digest).model_dump(mode="json")
            except CorralError:
                manifest = None
        grants = [e for e in events if e.kind == "grant" and _version(e) == row["version"]]
        grant = grants[-1].details if grants else {}
        approval, pending = self.store.approval(plugin), self.store.pending(plugin)
        granted = set(grant.get("permissions") or [])
        dropped = [list(d) for d in grant.get("dropped") or []]
        if approval is not None and pending is not None and pending.version == row["version"]:
            for permission in sorted(granted - approval.permissions):
                dropped.append([permission, f"awaiting approval (new in {pending.version})"])
            granted &= approval.permissions
        if manifest is not None:
            requested = [str(p) for p in manifest.get("permissions", [])]
        else:  # not in this machine's store: what the last grant saw asked
            requested = sorted({*(grant.get("permissions") or []), *(d[0] for d in dropped)})
        usage = self.store.usage(plugin)
        return {
            **row,
            "digest": installed.digest if installed else None,
            "manifest": manifest or _NOT_RECORDED,
            "requested": requested,
            "granted": sorted(granted),
            "dropped": dropped,
            "approved_permissions": sorted(approval.permissions) if approval else [],
            "pending_permissions": sorted(pending.permissions) if pending else [],
            "refused": [
                {"version": r.version, "permissions": sorted(r.permissions), "time": r.time}
                for r in self.store.refusals(plugin)
            ],
            "usage_peaks": usage["peaks"] if usage else {},
            "usage_samples": usage["samples"] if usage else 0,
        }

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
        """Consent to the pending request (or, naming its version, a refused one)."""
        request = awaiting(self.store, plugin, version)
        self.store.approve(plugin, request.version, request.permissions, now=time.time())
        self.record(
            "plugin.state",
            plugin,
            "allow",
            state="approved",
            version=request.version,
            permissions=sorted(request.permissions),
            by="cli",
        )
        return request.version, request.permissions

    def refuse(
        self, plugin: str, version: str | None = None, reason: str = ""
    ) -> tuple[str, frozenset[str]]:
        """Close the pending request without consent: that version will not load."""
        pending = self.store.pending(plugin)
        if pending is None or (version is not None and pending.version != version):
            suffix = f" for version {version}" if version else ""
            raise HostError(f"plugin {plugin!r} has no request awaiting approval{suffix}")
        approval = self.store.approval(plugin)
        new = pending.permissions - (approval.permissions if approval else frozenset())
        self.store.refuse(
            plugin, pending.version, pending.permissions, now=time.time(), reason=reason
        )
        self.record(
            "plugin.state",
            plugin,
            "deny",
            state="refused",
            version=pending.version,
            permissions=sorted(new),
            reason=reason or "refused",
            by="cli",
        )
        return pending.version, new

    def install(self, package: str | os.PathLike[str]) -> dict[str, Any]:
        """Verify, store, vet and record a package, as a host's load would; start nothing."""
        from corral.runtime.host import Host  # the host's own load steps, not a copy

        with Host(home=self.home.root, policy=self.policy) as host:
            verified, store_dir, granted = host.install(package)
        manifest = verified.manifest
        stored = self.store.state(manifest.name)
        if stored and stored.state == "disabled" and stored.reason == UNINSTALLED:
            self.store.set_state(manifest.name, "loaded", now=time.time(), reason="installed")
        pending = self.store.pending(manifest.name)
        awaiting_version = pending.version if pending else None
        self.record(
            "admin",
            manifest.name,
            "allow",
            action="install",
            version=manifest.version,
            digest=verified.digest,
            tier=granted.tier,
            signed=verified.signed,
            by="cli",
        )
        return {
            "plugin": manifest.name,
            "version": manifest.version,
            "digest": verified.digest,
            "tier": granted.tier,
            "signed": verified.signed,
            "store": str(store_dir),
            "awaiting_approval": awaiting_version,
        }

    def uninstall(self, plugin: str, version: str | None = None) -> dict[str, Any]:
        """Remove a plugin's store copies (one version's, or all) and, for all, its consent.

        Uninstalling the whole plugin stores ``disabled`` (reason
        ``uninstalled``), so a host still running it kills its workers and
        refuses calls; a later install clears that. The key pin and the
        highest version installed stay, so a reinstall is still checked for
        rollback and for a changed signing key.
        """
        copies = self._copies(plugin, version)
        whole = version is None
        if not copies and (not whole or plugin not in self.known()):
            what = f"{plugin!r} {version}" if version else repr(plugin)
            raise HostError(f"plugin {what} is not installed in {self.home.root}")
        if whole:
            self.store.set_state(plugin, "disabled", now=time.time(), reason=UNINSTALLED)
            self.store.forget(plugin)
        for path in copies:
            _remove_tree(path)
        self.record(
            "admin",
            plugin,
            "info",
            action="uninstall",
            version=version or "",
            removed=[p.name for p in copies],
            by="cli",
        )
        return {"plugin": plugin, "version": version, "removed": [p.name for p in copies]}

    def _copies(self, plugin: str, version: str | None) -> list[Path]:
        """Store directories holding ``plugin`` (at ``version``), by their own manifests."""
        found = []
        root = self.home.store
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path.name.startswith(".") or not path.is_dir():
                continue
            try:
                manifest = read_manifest(path)
            except (CorralError, OSError):
                continue
            if manifest.name == plugin and version in (None, manifest.version):
                found.append(path)
        return found

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


def _findings(events: list[AuditEvent], version: str) -> list[Finding]:
    """The vetting findings recorded for ``version``'s latest vetted digest."""
    recorded = [e for e in events if e.kind == "vetting.finding" and _version(e) == version]
    if not recorded:
        return []
    digest = recorded[-1].details.get("digest")
    found = []
    for event in recorded:
        if event.details.get("digest") != digest:
            continue
        try:
            found.append(Finding.from_dict(event.details))
        except (KeyError, TypeError, ValueError):
            continue
    return list(dict.fromkeys(found))  # a reload records the same findings again


def _signature(events: list[AuditEvent], version: str, keyid: str | None) -> str:
    """``verified (publisher)``, ``failed``, ``unsigned`` or not recorded."""
    signed = [e for e in events if e.kind.startswith("signature.")]
    latest = signed[-1] if signed else None
    if latest is not None and latest.kind == "signature.failed":
        return "failed"
    if latest is not None and _version(latest) in (version, ""):
        who = latest.details.get("publisher") or str(latest.details.get("keyid", ""))[:12]
        return f"verified ({who})" if who else "verified"
    if keyid == "":
        return "unsigned"
    return _NOT_RECORDED


def _remove_tree(path: Path) -> None:
    """Remove a read-only store directory (its directories are 0555 by design)."""
    for dirpath, _, _ in os.walk(path):
        Path(dirpath).chmod(0o700)
    shutil.rmtree(path, ignore_errors=True)
