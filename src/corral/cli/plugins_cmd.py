"""``corral plugins``: the administrator's commands on a home's installed plugins.

They act on what hosts share (the lifecycle tables, in ``corral.db`` or in
PostgreSQL when the home's audit log is there; the verified store; the audit
log), so they work against hosts running in other processes, or on other
machines sharing the PostgreSQL store: a host obeys a state change before its
next call. ``corral plugins`` alone is ``corral plugins list``; the top-level
``corral suspend`` (and resume, disable, enable, approve) are aliases.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corral.cli._output import HomeOpt, JsonOpt, console, emit_json
from corral.cli.report_cmd import (
    PluginArg,
    ReasonOpt,
    VersionOpt,
    admin_call,
    approve,
    disable,
    enable,
    resume,
    suspend,
)

plugins_app = typer.Typer(
    help="Installed plugins: list, show, install, uninstall, states and consent.",
    invoke_without_command=True,
)

PackageArg = Annotated[
    Path, typer.Argument(help="A plugin directory or a .corral archive (signed or not).")
]


@plugins_app.callback()
def _default(ctx: typer.Context, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Installed plugins: list, show, install, uninstall, states and consent."""
    if ctx.invoked_subcommand is None:
        list_plugins(home, as_json)


@plugins_app.command("list")
def list_plugins(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every plugin the home knows: version, tier, state, signature, vetting, score, violations."""
    rows = admin_call(home, as_json, lambda admin: admin.listing())
    if as_json:
        emit_json({"ok": True, "plugins": rows})
        return
    if not rows:
        console.print("no plugins recorded")
        return
    checked = [row["vuln_checked"] for row in rows if row["vuln_checked"]]
    table = Table(
        show_edge=False,
        caption=f"last vuln check: {_when(max(checked)) if checked else 'never'}",
        caption_justify="left",
    )
    for column in ("plugin", "version", "state", "signature", "tier", "vetting", "score"):
        table.add_column(column, no_wrap=True)
    table.add_column("violation", overflow="fold")
    for row in rows:
        state = row["state"] + ("*" if row["awaiting_approval"] else "")
        violation = row["last_violation"]
        table.add_row(
            escape(row["plugin"]),
            escape(row["version"] or ""),
            escape(state),
            escape(row["signature"]),
            row["tier"] or "",
            ", ".join(f"{k} {v}" for k, v in sorted(row["vetting"].items())) or "clean",
            str(row["vulnerability_score"]),
            f"{violation['type']} {_when(violation['time'])}" if violation else "",
        )
    # Eight columns do not fit 80: a pipe gets 120, a terminal its own width if wider.
    Console(highlight=False, width=max(console.width, 120)).print(table)
    for row in rows:
        if row["state"] != "active":
            console.print(
                f"{escape(row['plugin'])}: {row['state']} ({escape(row['state_reason'])})"
            )
        if row["awaiting_approval"]:
            console.print(
                f"* {escape(row['plugin'])} {escape(row['awaiting_approval'])} awaits approval: "
                f"corral plugins approve|refuse {escape(row['plugin'])}"
            )


@plugins_app.command("show")
def show(plugin: PluginArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """One plugin: manifest, requested vs granted permissions with reasons, usage peaks."""
    data = admin_call(home, as_json, lambda admin: admin.show(plugin))
    if as_json:
        emit_json({"ok": True, **data})
        return
    console.print(
        f"[bold]{escape(data['plugin'])}[/bold] {escape(data['version'])}: {data['state']}"
        + (f" ({escape(data['state_reason'])})" if data["state"] != "active" else "")
    )
    console.print(
        f"tier {data['tier']}, signature {escape(data['signature'])}, "
        f"vulnerability score {data['vulnerability_score']}"
    )
    manifest = data["manifest"]
    if isinstance(manifest, dict):
        console.print(f"entry {escape(manifest['entry'])}; {escape(manifest['description'])}")
    table = Table(title="permissions", title_justify="left", show_edge=False)
    for column in ("permission", "requested", "granted", "why not"):
        table.add_column(column)
    why = {permission: reason for permission, reason in data["dropped"]}
    for permission in sorted({*data["requested"], *data["granted"], *why}):
        table.add_row(
            escape(permission),
            "yes" if permission in data["requested"] else "",
            "[green]yes[/green]" if permission in data["granted"] else "[red]no[/red]",
            escape(why.get(permission, "")),
        )
    console.print(table)
    for refused in data["refused"]:
        console.print(
            f"[red]refused[/red] {refused['version']}: " + ", ".join(refused["permissions"])
        )
    peaks = Table(title="usage peaks", title_justify="left", show_edge=False)
    peaks.add_column("measure")
    peaks.add_column("peak")
    for key, value in sorted(data["usage_peaks"].items()):
        peaks.add_row(key, f"{value:g}")
    console.print(peaks if data["usage_peaks"] else "usage peaks: none recorded")


@plugins_app.command("install")
def install(package: PackageArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Verify, store, vet and record a package, as a host's load would (nothing runs)."""
    data = admin_call(home, as_json, lambda admin: admin.install(package))
    if as_json:
        emit_json({"ok": True, **data})
        return
    console.print(
        f"installed {escape(data['plugin'])} {escape(data['version'])} "
        f"(tier {data['tier']}, {'signed' if data['signed'] else 'unsigned'}, "
        f"digest {data['digest'][:16]})"
    )
    if data["awaiting_approval"]:
        console.print(
            f"[yellow]it asks for permissions not approved yet[/yellow]: "
            f"corral plugins approve {escape(data['plugin'])} (or refuse)"
        )


@plugins_app.command("uninstall")
def uninstall(
    plugin: PluginArg,
    version: Annotated[
        str | None, typer.Option("--version", help="Remove only this version's store copy.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a plugin's store copies; without --version also its consent (hosts disable it)."""
    data = admin_call(home, as_json, lambda admin: admin.uninstall(plugin, version))
    if as_json:
        emit_json({"ok": True, **data})
        return
    what = f"{plugin} {version}" if version else plugin
    console.print(f"uninstalled {escape(what)}: {len(data['removed'])} store copies removed")


@plugins_app.command("refuse")
def refuse(
    plugin: PluginArg,
    version: VersionOpt = None,
    reason: ReasonOpt = "",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refuse the permissions a new version asked for: that version will not load."""
    refused, permissions = admin_call(
        home, as_json, lambda admin: admin.refuse(plugin, version, reason)
    )
    if as_json:
        emit_json(
            {"ok": True, "plugin": plugin, "version": refused, "refused": sorted(permissions)}
        )
    else:
        console.print(f"{escape(plugin)} {refused}: refused " + ", ".join(sorted(permissions)))


for _name, _command in (
    ("suspend", suspend),
    ("resume", resume),
    ("disable", disable),
    ("enable", enable),
    ("approve", approve),
):
    plugins_app.command(_name)(_command)


def _when(moment: Any) -> str:
    return datetime.datetime.fromtimestamp(float(moment), datetime.UTC).strftime("%Y-%m-%d %H:%M")
