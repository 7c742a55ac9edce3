"""``corral vuln``: record, list and resolve vulnerability reports; score a plugin (seed 001).

Reports go to ``vuln_reports`` where the home's lifecycle state is (its
``corral.db``, or the PostgreSQL database of its audit log); every change is
audited (``vuln.reported``, ``vuln.resolved``) in the home's audit log, the
same place a ``Host`` writes. ``corral vuln score`` shows what the load path
would decide: allow, refuse (score above the policy's maximum) or disable (a
critical report affects this version). ``corral vuln check`` runs seed 001's
periodic check over every installed plugin (``corral.runtime.vulncycle``);
``--status`` says when it last ran and when it is next due.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from corral import HomeAdmin
from corral.cli._output import (
    HomeOpt,
    JsonOpt,
    PluginDirArg,
    PolicyOpt,
    console,
    emit_json,
    fail,
    load_granted,
)
from corral.errors import CorralError
from corral.manifest import load_policy
from corral.runtime.vulncycle import VulnCycle
from corral.vetting import Recorder, vet_plugin
from corral.vetting.vulns import VulnReport, VulnStore, assess

vuln_app = typer.Typer(no_args_is_help=True, help="Vulnerability reports against plugin versions.")

PluginArg = Annotated[str, typer.Argument(help="The plugin's name.")]
IdOpt = Annotated[str, typer.Option("--id", help="The vulnerability id, e.g. CVE-2026-1234.")]


def _store(home: Path | None) -> tuple[VulnStore, Recorder]:
    """The home's vulnerability table, and a recorder into the audit store its hosts use."""
    admin = HomeAdmin(home)

    def record(
        kind: str, plugin: str, version: str, decision: str, details: dict[str, Any]
    ) -> None:
        admin.record(kind, plugin, decision, **{"version": version, **details, "by": "cli"})

    return admin.vulns(), record


def _row(r: VulnReport) -> dict[str, Any]:
    return r.to_dict()


@vuln_app.command("report")
def report(  # noqa: PLR0917 - a CLI command's signature is its options
    plugin: PluginArg,
    version: Annotated[str, typer.Option("--version", help="First affected version.")],
    severity: Annotated[str, typer.Option("--severity", help="critical, high, medium or low.")],
    vuln_id: IdOpt,
    fixed_in: Annotated[
        str | None, typer.Option("--fixed-in", help="First version with the fix.")
    ] = None,
    description: Annotated[str, typer.Option("--description", help="What is wrong.")] = "",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a vulnerability against a plugin version (audited)."""
    try:
        store, record = _store(home)
        found = store.report(
            plugin,
            version,
            severity.lower(),
            vuln_id,
            fixed_in=fixed_in,
            description=description,
            record=record,
        )
    except CorralError as exc:
        fail(exc, as_json)
    if as_json:
        emit_json({"ok": True, "report": _row(found)})
        return
    fix = f", fixed in {found.fixed_in}" if found.fixed_in else ", no fix yet"
    console.print(
        f"recorded {escape(found.vuln_id)} ({found.severity}) against "
        f"{escape(plugin)} {escape(found.version)}{escape(fix)}"
    )
    if found.severity == "critical":
        console.print("[bold red]critical[/bold red]: affected versions are disabled until fixed")


@vuln_app.command("resolve")
def resolve(
    plugin: PluginArg, vuln_id: IdOpt, home: HomeOpt = None, as_json: JsonOpt = False
) -> None:
    """Close a report (withdrawn, or no affected version is installed any more)."""
    try:
        store, record = _store(home)
        found = store.resolve(plugin, vuln_id, record=record)
    except CorralError as exc:
        fail(exc, as_json)
    if as_json:
        emit_json({"ok": True, "report": _row(found)})
    else:
        console.print(f"resolved {escape(found.vuln_id)} for {escape(plugin)}")


@vuln_app.command("list")
def list_reports(
    plugin: Annotated[str | None, typer.Argument(help="Only this plugin.")] = None,
    include_resolved: Annotated[bool, typer.Option("--all", help="Include resolved ones.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List vulnerability reports (open ones unless --all)."""
    store, _ = _store(home)
    rows = store.reports(plugin, open_only=not include_resolved)
    if as_json:
        emit_json({"ok": True, "reports": [_row(r) for r in rows]})
        return
    table = Table(show_edge=False)
    for column in ("plugin", "id", "severity", "affects", "status"):
        table.add_column(column)
    for r in rows:
        affects = f"{r.version} .. {r.fixed_in or '(no fix)'}"
        table.add_row(escape(r.plugin), escape(r.vuln_id), r.severity, escape(affects), r.status)
    console.print(table if rows else "no reports")


@vuln_app.command("score")
def score_cmd(
    plugin_dir: PluginDirArg,
    policy: PolicyOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A plugin's vulnerability score (vetting findings + open reports) and the gate's decision."""
    loaded = load_granted(plugin_dir, policy, home, as_json)
    manifest = loaded.manifest
    vetted = vet_plugin(plugin_dir, manifest, loaded.admin, loaded.grant.tier)
    store, record = _store(home)
    current, gate = assess(
        store, manifest.name, manifest.version, vetted.findings, loaded.admin, record=record
    )
    if as_json:
        emit_json(
            {
                "ok": gate.action == "allow",
                "plugin": manifest.name,
                "version": manifest.version,
                "score": current.value,
                "from_findings": current.from_findings,
                "from_reports": current.from_reports,
                "reports": [r.vuln_id for r in current.reports],
                "max_score": loaded.admin.vulnerabilities.max_score,
                "action": gate.action,
                "reason": gate.reason,
            }
        )
    else:
        style = "green" if gate.action == "allow" else "red"
        console.print(f"[{style}]{gate.action}[/{style}]: {escape(gate.reason)}")
        console.print(
            f"score {current.value} = findings {current.from_findings:g}"
            f" + reports {current.from_reports:g}"
        )
    if gate.action != "allow":
        raise typer.Exit(1)


def _cycle(home: Path | None) -> VulnCycle:
    """The cycle over the home, recording as the CLI; a state change is stored for the hosts."""
    admin = HomeAdmin(home)
    policy = load_policy(admin.home.policy if admin.home.policy.exists() else None)

    def record(kind: str, plugin: str, decision: str, details: dict[str, Any]) -> None:
        admin.record(kind, plugin, decision, **{**details, "by": "cli"})

    def set_state(plugin: str, state: str, reason: str) -> None:
        previous = admin.state(plugin)
        admin.store.set_state(plugin, state, now=time.time(), reason=reason)
        admin.record(
            "plugin.state",
            plugin,
            "info",
            state=state,
            previous=previous,
            reason=reason,
            by="cli vuln check",
        )

    return VulnCycle(
        admin.home,
        policy,
        record=record,
        set_state=set_state,
        lifecycle=admin.store,
        by="cli",
    )


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "never"


@vuln_app.command("check")
def check(
    status: Annotated[
        bool, typer.Option("--status", help="Only say when it last ran and when it is due.")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-vet and re-score every installed plugin; disable, flag, warn, track fix deadlines."""
    try:
        cycle = _cycle(home)
        if status:
            _print_status(cycle.status(), as_json)
            return
        result = cycle.run()
    except CorralError as exc:
        fail(exc, as_json)
    if as_json:
        emit_json({"ok": result.run.errors == 0, **result.to_dict()})
    else:
        table = Table(show_edge=False)
        for column in ("plugin", "version", "tier", "score", "actions"):
            table.add_column(column)
        for p in result.plugins:
            done = ", ".join(a["action"] for a in p.actions) or "-"
            style = "red" if p.disabled or p.error else "yellow" if p.actions else ""
            shown = f"[{style}]{escape(p.error or done)}[/{style}]" if style else done
            table.add_row(escape(p.plugin), escape(p.version), p.tier, str(p.score), shown)
        console.print(table if result.plugins else "no installed plugins")
        run = result.run
        console.print(
            f"checked {run.plugins} plugin(s): {run.flagged} flagged, {run.disabled} disabled,"
            f" {run.errors} error(s)"
        )
    if result.run.errors:
        raise typer.Exit(1)


def _print_status(state: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json({"ok": True, **state})
        return
    last = state["last_check"]
    console.print(f"last check: {_when(last['finished_at'] if last else None)}")
    if last:
        console.print(
            f"  {last['plugins']} plugin(s), {last['flagged']} flagged, "
            f"{last['disabled']} disabled, by {escape(last['by'] or '?')}"
        )
    due = "overdue" if state["overdue"] else "due"
    console.print(
        f"next check {due}: {_when(state['next_due'])} (every {state['interval_days']:g} days)"
        if state["next_due"] is not None
        else "next check: when a plugin is installed"
    )
    for d in state["open_deadlines"]:
        passed = " [red]passed[/red]" if d["passed"] else ""
        console.print(
            f"fix deadline {escape(d['plugin'])} {escape(d['vuln_id'])} ({d['severity']}):"
            f" {_when(d['due'])}{passed}"
        )
