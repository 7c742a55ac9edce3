"""Seed 001's review and vulnerability cycle, carried out: the periodic check and the load gate.

``VulnCycle.run`` re-vets every installed plugin (``trust_installed``: the
version and store digest each home last installed) with the rules and policy
in force now, recomputes its score against the open reports, and applies
``vetting.vulns.respond``: flag over the maximum score, disable for a
``disable_on`` report (stored lifecycle state ``disabled`` with the reason,
plus a hold so a fixed version lifts it), ask for a new review for a
``review_on`` report, warn for a ``warn_on`` report, open a fix deadline and
write one audit event when a run finds it passed. Every run is stored
(``vuln_checks``); ``last_check`` reads the latest for ``corral plugins list``
and the dashboard.

``VulnCycle.admit`` is the same policy at load: a version whose tier
requires a review, or that a ``review_on`` report affects, loads only with a
recorded review good enough (after the report, for the latter); and a plugin
the cycle disabled is enabled again when a version no disabling report
affects is loaded.

Who runs it: ``corral vuln check`` (CLI, another process), and a running
``Host`` when the check is overdue: at each ``load`` and from the monitor
thread (probing at most once an hour of the host's clock). The caller passes
how to record and how to change a lifecycle state, so the same code serves a
host (which applies a state at once) and the CLI (which stores it for the
host's next poll).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corral.errors import CorralError, HostError, TrustError
from corral.policy import AdminPolicy, Manifest, grant
from corral.policy.tiers import TierSpec
from corral.runtime.home import Home
from corral.runtime.lifecycle import LifecycleStore
from corral.runtime.shared import open_reviews, open_vulns
from corral.trust import Keyring, Store, TrustState, read_manifest, review_command
from corral.trust.state import Installed
from corral.vetting import VettingCache, vet_plugin
from corral.vetting.cycle import CheckRun, CycleStore
from corral.vetting.vulns import Action, respond, score
from corral.vetting.vulns import last_check as _stored_last_check

# record(kind, plugin, decision, details); details may carry "version".
Recorder = Callable[[str, str, str, dict[str, Any]], None]
# set_state(plugin, state, reason): "disabled", or "loaded" to lift a hold.
StateSetter = Callable[[str, str, str], None]


@dataclass(frozen=True)
class PluginCheck:
    """What one run found and did for one installed plugin."""

    plugin: str
    version: str
    tier: str = ""
    score: int = 0
    findings: int = 0
    actions: tuple[dict[str, Any], ...] = ()
    error: str = ""

    @property
    def flagged(self) -> bool:
        return any(a["action"] == "flag" for a in self.actions)

    @property
    def disabled(self) -> bool:
        return any(a["action"] == "disable" for a in self.actions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "version": self.version,
            "tier": self.tier,
            "score": self.score,
            "findings": self.findings,
            "actions": list(self.actions),
            "error": self.error,
        }


@dataclass(frozen=True)
class CheckResult:
    """One run: the stored summary and each plugin's part."""

    run: CheckRun
    plugins: tuple[PluginCheck, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "results": [p.to_dict() for p in self.plugins]}


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


class VulnCycle:
    """The check and the load gate over one corral home."""

    def __init__(
        self,
        home: Home,
        policy: AdminPolicy,
        *,
        record: Recorder,
        set_state: StateSetter,
        lifecycle: LifecycleStore,
        keyring: Path | None = None,
        clock: Callable[[], float] = time.time,
        host_id: str = "",
        by: str = "",
    ) -> None:
        self.home = home
        self.policy = policy
        self._record = record
        self._set_state = set_state
        self.keyring_path = keyring if keyring is not None else home.keyring
        self.clock = clock
        self.host_id = host_id
        self.by = by
        self.cycle = CycleStore(home.db)
        self.lifecycle = lifecycle
        # Reports and reviews live where the lifecycle state does (shared on PostgreSQL).
        self.reviews = open_reviews(lifecycle.target, clock=clock)
        self.vulns = open_vulns(lifecycle.target, host_id=host_id, clock=clock)
        self.trust = TrustState(home.db)

    # --- when ------------------------------------------------------------------

    def next_due(self) -> float | None:
        interval = self.policy.vulnerabilities.check_interval_days
        return self.cycle.next_due(interval, self.trust.first_installed_at())

    def due(self, now: float | None = None) -> bool:
        """Whether the check is overdue (never, with nothing installed)."""
        when = self.next_due()
        return when is not None and (self.clock() if now is None else now) >= when

    def status(self, now: float | None = None) -> dict[str, Any]:
        """Last run, next due date, whether overdue, and the fix deadlines still open."""
        now = self.clock() if now is None else now
        last, when = self.cycle.last_run(), self.next_due()
        return {
            "last_check": last.to_dict() if last else None,
            "next_due": when,
            "overdue": when is not None and now >= when,
            "interval_days": self.policy.vulnerabilities.check_interval_days,
            "open_deadlines": [
                {**d.to_dict(), "passed": now > d.due} for d in self.cycle.deadlines()
            ],
        }

    def run_if_due(self, now: float | None = None) -> CheckResult | None:
        now = self.clock() if now is None else now
        return self.run(now) if self.due(now) else None

    # --- the check ---------------------------------------------------------------

    def run(self, now: float | None = None) -> CheckResult:
        """Re-vet and re-score every installed plugin; act on what seed 001 asks; store the run."""
        started = self.clock() if now is None else now
        keyring = Keyring.load(self.keyring_path)
        results = []
        for name, installed in self.trust.installed_all().items():
            try:
                results.append(self._check(name, installed, keyring, started))
            except CorralError as exc:
                results.append(PluginCheck(name, installed.version, error=str(exc)[:500]))
                self._record(
                    "vuln.check",
                    name,
                    "info",
                    {"version": installed.version, "error": str(exc)[:500]},
                )
        run = self.cycle.record_run(
            started_at=started,
            finished_at=self.clock() if now is None else now,
            plugins=len(results),
            flagged=sum(r.flagged for r in results),
            disabled=sum(r.disabled for r in results),
            errors=sum(bool(r.error) for r in results),
            by=self.by,
            host_id=self.host_id,
        )
        summary = {k: v for k, v in run.to_dict().items() if k != "id"}
        self._record("vuln.check", "", "info", {"run": run.id, **summary})
        return CheckResult(run, tuple(results))

    def _tier(self, manifest: Manifest, installed: Installed, keyring: Keyring, now: float) -> str:
        """The tier the grant gives now: the keyring's word on the installed key, if valid."""
        proven = "community"
        entry = keyring.get(installed.keyid) if installed.keyid else None
        if entry is not None and not entry.problem(datetime.fromtimestamp(now, UTC)):
            proven = entry.tier
        return grant(manifest, self.policy, signature_tier=proven).tier

    def _check(self, name: str, installed: Installed, keyring: Keyring, now: float) -> PluginCheck:
        root = Store(self.home.store).path(installed.digest)
        if not root.is_dir():
            raise HostError(f"the store copy of {name} {installed.version} is missing ({root})")
        manifest = read_manifest(root)
        tier = self._tier(manifest, installed, keyring, now)
        report = vet_plugin(
            root,
            manifest,
            self.policy,
            tier,
            digest=installed.digest,
            cache=VettingCache(self.home.db),
        )
        version = installed.version
        current = score(report.findings, self.vulns.affecting(name, version))
        actions = respond(name, version, current, self.policy)
        spec = self.policy.tier(tier)
        done = [d for a in actions if (d := self._act(name, version, spec, a, now)) is not None]
        self._settle_deadlines(name, version, {a.report.vuln_id for a in actions if a.report}, now)
        if not any(a.action == "disable" for a in actions):
            self.lift(name, version)
        checked = PluginCheck(name, version, tier, current.value, len(report.findings), tuple(done))
        decision = "deny" if checked.disabled else "info"
        details = {k: v for k, v in checked.to_dict().items() if k not in ("plugin", "error")}
        self._record("vuln.check", name, decision, details)
        return checked

    def _act(
        self, name: str, version: str, spec: TierSpec, action: Action, now: float
    ) -> dict[str, Any] | None:
        """Carry out one response; the record of what was done, or None when nothing is due."""
        details: dict[str, Any] = {"version": version, **action.to_dict()}
        report = action.report
        if action.action == "review":
            assert report is not None
            level = spec.review_level
            if self.reviews.satisfying(name, version, level, since=report.reported_at):
                return None
            details["command"] = review_command(name, version, level)
            self._record("vuln.action", name, "deny", details)
        elif action.action == "disable":
            assert report is not None
            self._disable(name, version, report.vuln_id, action.reason, now)
            self._record("vuln.action", name, "deny", details)
        elif action.action == "deadline":
            assert report is not None and action.due is not None
            deadline, opened = self.cycle.open_deadline(
                name, report.vuln_id, version, report.severity, now=now, due=action.due
            )
            if opened:
                self._record("vuln.deadline", name, "info", {**details, "state": "opened"})
            if now > deadline.due and deadline.passed_at is None:
                self.cycle.mark_passed(name, report.vuln_id, now=now)
                late = f"fix deadline for {report.vuln_id} passed on {_day(deadline.due)}"
                self._record(
                    "vuln.deadline", name, "deny", {**details, "state": "passed", "reason": late}
                )
                details["state"] = "passed"
        else:  # flag, warn: an event each run
            self._record("vuln.action", name, "info", details)
        return details

    def _settle_deadlines(self, name: str, version: str, affecting: set[str], now: float) -> None:
        """Close the deadlines of reports that no longer affect the installed version."""
        for deadline in self.cycle.deadlines(name):
            if deadline.vuln_id in affecting:
                continue
            self.cycle.close_deadline(name, deadline.vuln_id, now=now)
            details = {
                **deadline.to_dict(),
                "version": version,
                "state": "met",
                "late": now > deadline.due,
            }
            self._record("vuln.deadline", name, "allow", details)

    def _disable(self, name: str, version: str, vuln_id: str, reason: str, now: float) -> None:
        """Disable ``name`` for ``vuln_id`` unless already disabled (by us or by a person)."""
        stored = self.lifecycle.state(name)
        if stored is not None and stored.state == "disabled":
            return
        reason = reason[:500]
        self.cycle.hold(name, vuln_id, version, reason, now=now)
        self._set_state(name, "disabled", reason)

    # --- at load ----------------------------------------------------------------

    def admit(self, manifest: Manifest, spec: TierSpec, tier: str) -> None:
        """Refuse an unreviewed version that needs a review; lift this cycle's own hold.

        Called by ``Host.load`` after the vulnerability gate, so a version a
        disabling report affects never gets here.
        """
        name, version = manifest.name, manifest.version
        needs: list[tuple[float | None, str]] = []
        if spec.requires_review:
            needs.append((None, f"tier {tier} requires a security review of every version"))
        review_on = self.policy.vulnerabilities.review_on
        for r in self.vulns.affecting(name, version):
            if r.severity in review_on:
                why = (
                    f"{r.severity} vulnerability {r.vuln_id} was reported on {_day(r.reported_at)}"
                )
                needs.append((r.reported_at, f"{why}, so it needs a review recorded since"))
        for since, why in needs:
            if self.reviews.satisfying(name, version, spec.review_level, since=since) is None:
                raise TrustError(
                    f"plugin {name!r} {version} has no {spec.review_level} security review "
                    f"({why}); a reviewer records one with: "
                    f"{review_command(name, version, spec.review_level)}"
                )
        self.lift(name, version)

    def lift(self, name: str, version: str) -> None:
        """Enable a plugin the cycle disabled, now that ``version`` is not affected."""
        hold = self.cycle.held(name)
        if hold is None:
            return
        self.cycle.release(name)
        stored = self.lifecycle.state(name)
        if stored is None or stored.state != "disabled" or stored.reason != hold.reason:
            return  # enabled since, or disabled again by a person for a reason of theirs
        reason = f"version {version} is not affected by {hold.vuln_id}"
        self._set_state(name, "loaded", reason)
        details = {"version": version, "action": "enable", "vuln_id": hold.vuln_id}
        self._record("vuln.action", name, "allow", {**details, "reason": reason})


def last_check(home: str | Path | None = None) -> CheckRun | None:
    """When the vulnerability check last ran in ``home`` (``CORRAL_HOME`` by default)."""
    return _stored_last_check(Home.at(home).db)


last_vuln_check = last_check
"""``corral.last_vuln_check(home)``: the public name (for ``plugins list`` and the dashboard)."""
