"""What the pages show, read from what hosts share: ``HomeAdmin`` and the audit store.

Every read here is an indexed, bounded query (``SqlStore.page``: newest first,
keyset cursor, a limit), never a walk of a plugin's whole history, so a page
costs the same with a thousand audit events or a million. The one exception is
the chain verification, which must read every record and so runs only when an
administrator asks for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.audit import AuditEvent, ChainReport, SqlStore, audit_target, open_store, policy_audit
from corral.errors import AuditError, CorralError, HostError
from corral.manifest import load_policy
from corral.runtime import HomeAdmin
from corral.vetting.finding import Finding
from corral.vetting.vulns import VulnReport, score

PAGE = 50
CHART_POINTS = 60
_FINDINGS_SHOWN = 200
# Which event says what a plugin's workers last did (the stored state wins over these).
_RUN_STATES = {
    "plugin.loaded": "loaded",
    "worker.started": "running",
    "worker.crashed": "failed",
    "plugin.refused": "failed",
    "plugin.unloaded": "unloaded",
}


@dataclass(frozen=True)
class AuditFilter:
    """The audit page's filters; every field optional."""

    plugin: str | None = None
    kind: str | None = None
    decision: str | None = None
    since: float | None = None
    until: float | None = None

    def query(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "kind": self.kind,
            "decision": self.decision,
            "since": self.since,
            "until": self.until,
        }


@dataclass
class PluginRow:
    """One line of the overview."""

    name: str
    state: str
    version: str = ""
    tier: str = ""
    signature: str = "not recorded"
    vetting: str = "not recorded"
    vuln_score: int = 0
    last_violation: AuditEvent | None = None
    awaiting_approval: str | None = None
    usage: dict[str, list[float]] = field(default_factory=dict)


def open_home_store(home: Path, explicit: str | None = None) -> SqlStore:
    """The store this home's hosts write to (as ``HomeAdmin`` finds it), if it is a SQL one."""
    policy = load_policy(home / "policy.yaml" if (home / "policy.yaml").exists() else None)
    target = audit_target(explicit, policy_value=policy_audit(policy), default=home / "corral.db")
    if target == "memory" or target.endswith(".jsonl"):
        raise AuditError(f"the dashboard reads SQLite or PostgreSQL audit stores, not {target!r}")
    store = open_store(target)
    if not isinstance(store, SqlStore):  # pragma: no cover - open_store's other kinds
        store.close()
        raise AuditError(f"the dashboard cannot page through {type(store).__name__}")
    return store


class Dashboard:
    """Read side of the dashboard: one home, one open audit store shared by requests."""

    def __init__(self, home: str | os.PathLike[str], audit: str | None = None) -> None:
        root = Path(home)
        if not (root / "corral.db").exists():
            raise HostError(f"no corral home at {root}: no corral.db (wrong --home?)")
        self.admin = HomeAdmin(root, audit=audit)
        self.root = root
        self.audit_url = audit
        self.store = open_home_store(root, audit)
        self.vulns = self.admin.vulns()
        self.page_size = PAGE

    def close(self) -> None:
        self.store.close()

    # --- small indexed reads ----------------------------------------------------

    def latest(self, plugin: str, kind: str) -> AuditEvent | None:
        found = self.store.page(plugin=plugin, kind=kind, limit=1)
        return found[0] if found else None

    def run_state(self, plugin: str) -> str:
        """Stored suspended/disabled, else what the newest worker event says."""
        stored = self.admin.state(plugin)
        if stored != "active":
            return stored
        newest: AuditEvent | None = None
        for kind in _RUN_STATES:
            event = self.latest(plugin, kind)
            if event is not None and (newest is None or event.time > newest.time):
                newest = event
        return _RUN_STATES[newest.kind] if newest else "active"

    def findings(self, plugin: str, version: str) -> list[Finding]:
        """The vetting findings recorded for ``version`` at its newest load."""
        events = self.store.page(plugin=plugin, kind="vetting.finding", limit=_FINDINGS_SHOWN)
        found: dict[str, Finding] = {}
        for event in events:
            if version and event.version and event.version != version:
                continue
            details = {k: v for k, v in event.details.items() if k in Finding.__dataclass_fields__}
            try:
                finding = Finding.from_dict(details)
            except TypeError:
                continue
            found.setdefault(finding.fingerprint or finding.where, finding)
        return sorted(found.values(), key=lambda f: (f.path, f.line, f.col))

    def open_reports(self, plugin: str, version: str) -> list[VulnReport]:
        return self.vulns.affecting(plugin, version) if version else []

    def usage(self, plugin: str) -> dict[str, list[float]]:
        """Per-call CPU seconds and peak memory of the newest calls, oldest first (charts)."""
        calls = self.store.page(plugin=plugin, kind="call.completed", limit=CHART_POINTS)
        calls.reverse()
        series: dict[str, list[float]] = {"time": [], "cpu": [], "memory": []}
        for event in calls:
            usage = event.details.get("usage") or {}
            series["time"].append(round(event.time, 3))
            series["cpu"].append(float(usage.get("cpu_seconds", 0.0) or 0.0))
            series["memory"].append(float(usage.get("peak_memory_mb", 0.0) or 0.0))
        return series

    # --- pages ----------------------------------------------------------------------

    def overview(self) -> list[PluginRow]:
        rows = []
        for entry in self.admin.plugins():
            name = entry["plugin"]
            row = PluginRow(
                name=name,
                state=self.run_state(name),
                awaiting_approval=entry.get("awaiting_approval"),
            )
            grant = self.latest(name, "grant")
            if grant is not None:
                row.version = grant.version or str(grant.details.get("version", ""))
                row.tier = str(grant.details.get("tier", ""))
            row.signature = _signature(
                self.latest(name, "signature.verified") or self.latest(name, "plugin.loaded"),
                self.latest(name, "signature.failed"),
            )
            findings = self.findings(name, row.version)
            row.vetting = f"{len(findings)} finding(s)" if grant is not None else "not recorded"
            row.vuln_score = score(findings, self.open_reports(name, row.version)).value
            row.last_violation = self.latest(name, "violation")
            row.usage = self.usage(name)
            rows.append(row)
        return rows

    def plugin(self, name: str) -> dict[str, Any]:
        """Everything the plugin page shows."""
        if name not in self.admin.known():
            raise HostError(f"unknown plugin {name!r}")
        grant = self.latest(name, "grant")
        version = (grant.version or str(grant.details.get("version", ""))) if grant else ""
        loaded = self.latest(name, "plugin.loaded")
        verified = self.latest(name, "signature.verified")
        failed = self.latest(name, "signature.failed")
        digest = ""
        for event in (loaded, verified):
            if event is not None and (event.digest or event.details.get("digest")):
                digest = event.digest or str(event.details.get("digest"))
                break
        manifest_text, manifest = self._manifest(digest)
        granted = [str(p) for p in grant.details.get("permissions", [])] if grant else []
        drops = grant.details.get("dropped", []) if grant else []
        dropped = [(str(d[0]), str(d[1])) for d in drops]
        requested = list(manifest.get("permissions", [])) if manifest else []
        violations = self.store.page(plugin=name, kind="violation", limit=200)
        responses = self.store.page(plugin=name, kind="response", limit=100)
        by_type: dict[str, int] = {}
        for event in violations:
            kind = str(event.details.get("type", "?"))
            by_type[kind] = by_type.get(kind, 0) + 1
        pending = self.admin.store.pending(name)
        approval = self.admin.store.approval(name)
        findings = self.findings(name, version)
        reports = self.open_reports(name, version)
        signer = verified or failed or loaded
        return {
            "name": name,
            "state": self.run_state(name),
            "stored": self.admin.store.state(name),
            "version": version,
            "tier": grant.details.get("tier", "") if grant else "",
            "network": grant.details.get("network", "") if grant else "",
            "notes": grant.details.get("notes", []) if grant else [],
            "digest": digest,
            "manifest_text": manifest_text,
            "description": manifest.get("description", "") if manifest else "",
            "limits": manifest.get("limits", {}) if manifest else {},
            "requested": requested,
            "granted": granted,
            "dropped": dropped,
            "approved": sorted(approval.permissions) if approval else [],
            "pending": pending,
            "usage": self.usage(name),
            "violations": violations[:50],
            "violations_by_type": by_type,
            "responses": responses[:50],
            "findings": findings,
            "reports": reports,
            "score": score(findings, reports),
            "signer": signer.details if signer else {},
            "signature": _signature(verified or loaded, failed),
            "errors": self.store.page(plugin=name, kind="call.failed", limit=20),
        }

    def _manifest(self, digest: str) -> tuple[str, dict[str, Any]]:
        """The stored plugin.yaml of the digest that ran (text as written, and parsed)."""
        if not digest or "/" in digest or digest.startswith("."):
            return "", {}
        path = self.admin.home.store / digest.removeprefix("sha256:") / "plugin.yaml"
        if not path.is_file():
            path = self.admin.home.store / digest / "plugin.yaml"
        try:
            text = path.read_text(encoding="utf-8")[:20_000]
        except OSError:
            return "", {}
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        return text, data if isinstance(data, dict) else {}

    def audit_page(
        self, filters: AuditFilter, before: tuple[float, str] | None = None, limit: int = 0
    ) -> tuple[list[AuditEvent], tuple[float, str] | None]:
        """One page, newest first, and the cursor of the next (None at the end)."""
        limit = limit or self.page_size
        events = self.store.page(**filters.query(), before=before, limit=limit + 1)
        more = len(events) > limit
        events = events[:limit]
        cursor = (events[-1].time, events[-1].id) if more and events else None
        return events, cursor

    def approvals(self) -> list[dict[str, Any]]:
        """Upgrades waiting for re-consent: what is approved, what is asked for on top."""
        waiting = []
        for entry in self.admin.plugins():
            pending = self.admin.store.pending(entry["plugin"])
            if pending is None:
                continue
            approval = self.admin.store.approval(entry["plugin"])
            approved = set(approval.permissions) if approval else set()
            waiting.append(
                {
                    "plugin": entry["plugin"],
                    "version": pending.version,
                    "approved_version": approval.version if approval else None,
                    "new": sorted(set(pending.permissions) - approved),
                    "kept": sorted(set(pending.permissions) & approved),
                    "asked": pending.time,
                }
            )
        return waiting

    def verify(self) -> list[ChainReport]:
        """Prove every host's chain; reads every record, so only on request."""
        try:
            return self.store.verify()
        except CorralError:
            raise
        except Exception as exc:  # a driver error while walking the chain
            raise AuditError(f"cannot verify the audit log: {exc}") from exc

    def newest(self) -> AuditEvent | None:
        found = self.store.page(limit=1)
        return found[0] if found else None

    def since(self, moment: float, limit: int = 200) -> list[AuditEvent]:
        """Events at or after ``moment``, oldest first (the live stream's poll)."""
        return self.store.query(since=moment, limit=limit)


def _signature(verified: AuditEvent | None, failed: AuditEvent | None) -> str:
    """From ``signature.verified`` (or ``plugin.loaded``, which carries the same details)."""
    if failed is not None and (verified is None or failed.time > verified.time):
        return "FAILED: " + str(failed.details.get("error") or failed.details.get("reason", ""))
    if verified is None:
        return "not recorded"
    details = verified.details
    if details.get("signed"):
        return f"signed by {details.get('publisher') or details.get('keyid')}"
    return "unsigned"
