"""Vulnerability reports against plugin versions, a 0-100 score, and the gate on it (seed 001).

Reports live in ``vuln_reports`` in ``$CORRAL_HOME/corral.db`` (the same
SQLite file the audit store uses, WAL mode so readers never block the
writer), or in the home's PostgreSQL database when its hosts share one
(``corral.runtime.shared.open_vulns``): a report recorded on one machine
must disable the plugin on every host. A report affects every version from
the one it names up to, not including, ``fixed_in``; with no ``fixed_in`` yet
it affects every later version too, because nobody has said a fix exists. So a critical report
disables a plugin "until a fixed version is installed" by construction: the
fixed version is simply not affected.

The score adds vetting findings (by severity, weighted by confidence,
capped so code alone cannot max it out) to open reports (by severity); an
open critical report is 100 whatever else is true.

``respond`` is seed 001's response table (flag, disable, review, warn, fix
deadline) as a pure function; ``corral.runtime.vulncycle`` carries it out
on every installed plugin, and ``last_check`` says when that last happened.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from corral import homedb
from corral.errors import HostError
from corral.policy import AdminPolicy
from corral.vetting.cycle import DAY, CheckRun, CycleStore
from corral.vetting.decide import Recorder
from corral.vetting.finding import SEVERITIES, Finding, Severity

SCHEMA = """
CREATE TABLE IF NOT EXISTS vuln_reports (
    id TEXT PRIMARY KEY,
    plugin TEXT NOT NULL,
    version TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    vuln_id TEXT NOT NULL,
    fixed_in TEXT,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    reported_at {real} NOT NULL,
    resolved_at {real},
    host_id TEXT NOT NULL DEFAULT '',
    UNIQUE (plugin, vuln_id)
);
CREATE INDEX IF NOT EXISTS vuln_reports_plugin ON vuln_reports (plugin, status);
"""
FINDING_WEIGHT = {"low": 1.0, "medium": 4.0, "high": 10.0, "critical": 25.0}
CONFIDENCE_FACTOR = {"low": 0.25, "medium": 0.5, "high": 1.0}
FINDINGS_CAP = 60.0
REPORT_WEIGHT = {"low": 5.0, "medium": 15.0, "high": 35.0, "critical": 100.0}
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?")
_VULN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def version_key(version: str) -> tuple[Any, ...]:
    """A sort key for a semantic version: a pre-release sorts before its release."""
    match = _SEMVER.fullmatch(version.strip())
    if match is None:
        raise HostError(f"'{version}' is not a semantic version like 1.2.0")
    major, minor, patch, pre = match.groups()
    pre_key: tuple[Any, ...] = (1,)
    if pre:
        pre_key = (
            0,
            *((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")),
        )
    return (int(major), int(minor), int(patch), pre_key)


@dataclass(frozen=True)
class VulnReport:
    """One recorded vulnerability."""

    id: str
    plugin: str
    version: str
    severity: Severity
    vuln_id: str
    fixed_in: str | None = None
    description: str = ""
    status: Literal["open", "resolved"] = "open"
    reported_at: float = 0.0
    resolved_at: float | None = None
    host_id: str = ""

    def affects(self, version: str) -> bool:
        """Whether ``version`` is in ``[version, fixed_in)``, and the report is open."""
        if self.status != "open":
            return False
        key = version_key(version)
        if key < version_key(self.version):
            return False
        return self.fixed_in is None or key < version_key(self.fixed_in)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class VulnStore:
    """The ``vuln_reports`` table; every change goes through ``record`` when one is given.

    ``db`` is a home's ``corral.db`` path or a :class:`~corral.homedb.Tables`
    (SQLite or PostgreSQL): the methods and their answers are the same on both.
    """

    def __init__(
        self,
        db: str | Path | homedb.Tables,
        *,
        host_id: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tables = db if isinstance(db, homedb.Tables) else homedb.SqliteTables(db)
        self.tables.create(SCHEMA)
        self.host_id = host_id
        self.clock = clock

    def report(
        self,
        plugin: str,
        version: str,
        severity: str,
        vuln_id: str,
        *,
        fixed_in: str | None = None,
        description: str = "",
        record: Recorder | None = None,
    ) -> VulnReport:
        """Record (or update and reopen) ``vuln_id`` against ``plugin`` from ``version`` on."""
        if severity not in SEVERITIES:
            raise HostError(f"severity '{severity}' is not one of {', '.join(SEVERITIES)}")
        if not _VULN_ID.fullmatch(vuln_id):
            raise HostError(f"'{vuln_id}' is not a vulnerability id like CVE-2024-12345")
        version_key(version)
        if fixed_in is not None and version_key(fixed_in) <= version_key(version):
            raise HostError(
                f"fixed_in {fixed_in} must be later than the affected version {version}"
            )
        now = self.clock()
        with self.tables.transaction() as run:
            rows = run(
                "SELECT id FROM vuln_reports WHERE plugin = ? AND vuln_id = ?", (plugin, vuln_id)
            )
            ident = rows[0]["id"] if rows else uuid.uuid4().hex
            run(
                "INSERT INTO vuln_reports (id, plugin, version, severity, vuln_id, fixed_in,"
                " description, status, reported_at, resolved_at, host_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, NULL, ?)"
                " ON CONFLICT (plugin, vuln_id) DO UPDATE SET version = excluded.version,"
                " severity = excluded.severity, fixed_in = excluded.fixed_in,"
                " description = excluded.description, status = 'open', resolved_at = NULL",
                (
                    ident,
                    plugin,
                    version,
                    severity,
                    vuln_id,
                    fixed_in,
                    description,
                    now,
                    self.host_id,
                ),
            )
        found = self.get(plugin, vuln_id)
        if record is not None:
            details = {**found.to_dict(), "updated": bool(rows)}
            record("vuln.reported", plugin, version, "info", details)
        return found

    def resolve(self, plugin: str, vuln_id: str, *, record: Recorder | None = None) -> VulnReport:
        """Close a report (withdrawn, or every installed version is fixed)."""
        self.get(plugin, vuln_id)
        with self.tables.transaction() as run:
            run(
                "UPDATE vuln_reports SET status = 'resolved', resolved_at = ?"
                " WHERE plugin = ? AND vuln_id = ?",
                (self.clock(), plugin, vuln_id),
            )
        found = self.get(plugin, vuln_id)
        if record is not None:
            record("vuln.resolved", plugin, found.version, "info", found.to_dict())
        return found

    def get(self, plugin: str, vuln_id: str) -> VulnReport:
        with self.tables.transaction() as run:
            rows = run(
                "SELECT * FROM vuln_reports WHERE plugin = ? AND vuln_id = ?", (plugin, vuln_id)
            )
        if not rows:
            raise HostError(f"no report {vuln_id} against plugin {plugin!r}")
        return VulnReport(**rows[0])

    def reports(self, plugin: str | None = None, *, open_only: bool = False) -> list[VulnReport]:
        query, args = "SELECT * FROM vuln_reports WHERE 1 = 1", list[str]()
        if plugin is not None:
            query += " AND plugin = ?"
            args.append(plugin)
        if open_only:
            query += " AND status = 'open'"
        with self.tables.transaction() as run:
            rows = run(query + " ORDER BY reported_at, vuln_id", args)
        return [VulnReport(**r) for r in rows]

    def affecting(self, plugin: str, version: str) -> list[VulnReport]:
        """Open reports that affect this plugin version."""
        return [r for r in self.reports(plugin, open_only=True) if r.affects(version)]


@dataclass(frozen=True)
class VulnScore:
    """A plugin version's vulnerability score and what it is made of."""

    value: int
    from_findings: float
    from_reports: float
    reports: tuple[VulnReport, ...] = ()


def score(findings: Iterable[Finding], reports: Iterable[VulnReport]) -> VulnScore:
    """0-100 from corral's own findings (capped) and the open reports that apply."""
    from_findings = min(
        FINDINGS_CAP,
        sum(
            FINDING_WEIGHT[f.severity] * CONFIDENCE_FACTOR[f.confidence]
            for f in findings
            if f.tool == "corral"
        ),
    )
    applying = tuple(reports)
    from_reports = sum(REPORT_WEIGHT[r.severity] for r in applying)
    value = min(100, round(from_findings + from_reports))
    return VulnScore(value, from_findings, from_reports, applying)


@dataclass(frozen=True)
class Gate:
    """What to do with a plugin version: allow, refuse to load it, or disable it."""

    action: Literal["allow", "refuse", "disable"]
    reason: str


def vuln_gate(plugin: str, version: str, current: VulnScore, policy: AdminPolicy) -> Gate:
    """The decision seed 001 asks for, as a pure function of the score and the policy.

    ``disable`` (a report of a severity in ``disable_on`` affects this
    version) beats ``refuse`` (the score is above ``max_score``); the
    lifecycle owner acts on it and re-asks when another version is installed.
    """
    rules = policy.vulnerabilities
    severe = [r for r in current.reports if r.severity in rules.disable_on]
    if severe:
        first = severe[0]
        fix = f"fixed in {first.fixed_in}" if first.fixed_in else "no fixed version yet"
        return Gate(
            "disable",
            f"{plugin} {version} is disabled: {first.severity} vulnerability {first.vuln_id} "
            f"affects it ({fix})",
        )
    if current.value > rules.max_score:
        return Gate(
            "refuse",
            f"{plugin} {version} has vulnerability score {current.value}, above the policy's "
            f"maximum of {rules.max_score}",
        )
    return Gate("allow", f"{plugin} {version} scores {current.value} (max {rules.max_score})")


def assess(
    store: VulnStore,
    plugin: str,
    version: str,
    findings: Iterable[Finding],
    policy: AdminPolicy,
    *,
    record: Recorder | None = None,
) -> tuple[VulnScore, Gate]:
    """Score a plugin version from its findings and the store, gate it, audit a non-allow."""
    current = score(findings, store.affecting(plugin, version))
    gate = vuln_gate(plugin, version, current, policy)
    if record is not None and gate.action != "allow":
        details = {
            "action": gate.action,
            "reason": gate.reason,
            "score": current.value,
            "reports": [r.vuln_id for r in current.reports],
        }
        record("vuln.gate", plugin, version, "deny", details)
    return current, gate


@dataclass(frozen=True)
class Action:
    """One thing seed 001's response table asks the cycle to do for an installed version."""

    action: Literal["flag", "disable", "review", "warn", "deadline"]
    reason: str
    report: VulnReport | None = None
    due: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "reason": self.reason}
        if self.report is not None:
            out |= {"vuln_id": self.report.vuln_id, "severity": self.report.severity}
        if self.due is not None:
            out["due"] = self.due
        return out


def respond(plugin: str, version: str, current: VulnScore, policy: AdminPolicy) -> list[Action]:
    """Seed 001's response actions for one installed version, as a pure function.

    Over ``max_score``: flagged. Per open report affecting the version: a
    ``disable_on`` severity disables it (until a fixed version is installed);
    a ``review_on`` severity needs a review recorded after the report; a
    ``warn_on`` severity is a warning; a severity with a ``fix_deadline_days``
    entry gets a deadline counted from the report's date. Low reports are
    tracked (they count in the score) and nothing more.
    """
    rules = policy.vulnerabilities
    out: list[Action] = []
    if current.value > rules.max_score:
        out.append(
            Action(
                "flag",
                f"{plugin} {version} has vulnerability score {current.value}, above the "
                f"policy's maximum of {rules.max_score}",
            )
        )
    for r in current.reports:
        fix = f"fixed in {r.fixed_in}" if r.fixed_in else "no fixed version yet"
        what = f"{r.severity} vulnerability {r.vuln_id} affects {plugin} {version} ({fix})"
        if r.severity in rules.disable_on:
            out.append(Action("disable", f"{what}: disabled until a fixed version is installed", r))
        if r.severity in rules.review_on:
            out.append(Action("review", f"{what}: a new security review is required", r))
        if r.severity in rules.warn_on:
            out.append(Action("warn", f"{what}: warning", r))
        days = rules.fix_deadline_days.get(r.severity)
        if days is not None:
            due = r.reported_at + days * DAY
            out.append(Action("deadline", f"{what}: fix due within {days:g} days", r, due))
    return out


def last_check(db: str | Path) -> CheckRun | None:
    """The latest completed vulnerability check recorded in ``db`` (a home's corral.db)."""
    if not Path(db).exists():
        return None
    return CycleStore(db).last_run()
