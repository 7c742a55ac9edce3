"""``corral report`` and the lifecycle verbs, on a home's stored state.

These commands read and change what hosts share (the lifecycle tables, in
``corral.db`` or the home's PostgreSQL audit database, and the audit log), so
they work while a host runs in another process: it adopts a suspend, resume,
disable or enable before its next call, and an approval when the plugin is
next loaded or reloaded. The verbs are also ``corral plugins`` subcommands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

import corral
from corral.cli._output import HomeOpt, JsonOpt, console, emit_json, errors

PluginArg = Annotated[str, typer.Argument(help="The plugin's name (as in its manifest).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why, for the audit log.")]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="The version to approve (default: the pending one).")
]


T = TypeVar("T")


def admin_call(home: Path | None, as_json: bool, action: Callable[[corral.HomeAdmin], T]) -> T:
    """Run ``action`` on the home's admin view; a ``CorralError`` is one line and exit 1."""
    try:
        admin = corral.HomeAdmin(home)
    except corral.CorralError as exc:
        raise _fail(exc, as_json) from None
    try:
        return action(admin)
    except corral.CorralError as exc:
        raise _fail(exc, as_json) from None
    finally:
        admin.close()


def _fail(exc: corral.CorralError, as_json: bool) -> typer.Exit:
    if as_json:
        emit_json({"ok": False, "error": str(exc)})
    else:
        errors.print(f"[red]error[/red]: {escape(str(exc))}")
    return typer.Exit(1)


def report(plugin: PluginArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """A plugin's security report: grant, usage, violations, responses, trust status."""
    data = admin_call(home, as_json, lambda admin: admin.report(plugin))
    if as_json:
        emit_json({"ok": True, **data})
        return
    _print_report(data)


def _print_report(data: dict[str, Any]) -> None:
    state = data["state"] + (f" ({data['state_reason']})" if data["state_reason"] else "")
    console.print(f"[bold]{escape(data['plugin'])}[/bold] {escape(data['version'])}: {state}")
    grant = data["grant"]
    if isinstance(grant, dict):
        isolation = grant.get("isolation") or "kernel"
        console.print(
            f"tier {grant['tier']}, network {grant['network']}, isolation {isolation}"
            f" (ran in: {data['backend'] or 'not started'})"
        )
        for permission in grant["permissions"] or []:
            console.print(f"  granted  {escape(permission)}")
        for permission, why in grant["dropped"] or []:
            console.print(f"  dropped  {escape(permission)}: {escape(why)}")
    else:
        console.print(f"grant: {grant}")
    approval = data["approval"]
    if approval["awaiting_approval"]:
        console.print(
            f"[yellow]version {approval['awaiting_approval']} awaits approval[/yellow] "
            f"(corral plugins approve {escape(data['plugin'])})"
        )
    usage = data["usage"]
    table = Table(title="usage", title_justify="left", show_edge=False)
    table.add_column("measure")
    table.add_column("value")
    for key in ("calls", "failed_calls", "cpu_seconds_total", "peak_memory_mb_per_call"):
        table.add_row(key, str(usage[key]))
    for key, value in sorted(usage["monitor_peaks"].items()):
        table.add_row(f"peak {key}", f"{value:g}")
    console.print(table)
    violations = data["violations"]
    console.print(
        "violations: " + (", ".join(f"{k} {v}" for k, v in sorted(violations.items())) or "none")
    )
    net = data["connections"]
    console.print(
        f"connections: {net['allowed']} allowed, {net['refused']} refused, "
        f"{net['bytes_in']} bytes in, {net['bytes_out']} bytes out"
    )
    for destination, count in sorted(net["destinations"].items()):
        console.print(f"  {escape(destination)}: {count}")
    commands = data["commands"]
    console.print(
        "commands run: "
        + (", ".join(f"{escape(c)} x{n}" for c, n in sorted(commands.items())) or "none")
    )
    responses = Table(title="responses", title_justify="left", show_edge=False)
    for column in ("action", "type", "count", "applied"):
        responses.add_column(column)
    for row in data["responses"]:
        responses.add_row(*(str(row[c]) for c in ("action", "type", "count", "applied")))
    console.print(responses if data["responses"] else "responses: none")
    for key in ("signature", "vetting", "vulnerability"):
        value = data[key]
        console.print(f"{key}: {escape(str(value))}")


def _verb(verb: str) -> Any:
    def command(
        plugin: PluginArg, home: HomeOpt = None, reason: ReasonOpt = "", as_json: JsonOpt = False
    ) -> None:
        state = admin_call(home, as_json, lambda admin: admin.change(plugin, verb, reason))
        if as_json:
            emit_json({"ok": True, "plugin": plugin, "state": state})
        else:
            console.print(f"{escape(plugin)}: {state}")

    command.__doc__ = (
        f"{verb.capitalize()} a plugin (stored; running hosts adopt it within a second)."
    )
    return command


suspend, resume, disable, enable = (_verb(v) for v in ("suspend", "resume", "disable", "enable"))


def approve(
    plugin: PluginArg, version: VersionOpt = None, home: HomeOpt = None, as_json: JsonOpt = False
) -> None:
    """Consent to the permissions a new version asked for (or, with --version, a refused one)."""
    approved, permissions = admin_call(home, as_json, lambda admin: admin.approve(plugin, version))
    if as_json:
        emit_json(
            {"ok": True, "plugin": plugin, "version": approved, "permissions": sorted(permissions)}
        )
    else:
        console.print(f"{escape(plugin)} {approved}: approved " + ", ".join(sorted(permissions)))
