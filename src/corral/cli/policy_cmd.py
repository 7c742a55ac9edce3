"""``corral policy show PLUGIN_DIR``: what a plugin would be granted, and why.

For the administrator reviewing a plugin and the author wondering where a
permission went: each declared permission with its fate (granted, widened to
the tier's meaning, narrowed, dropped) and the reason, the denies in force,
every limit against its ceiling, and the admin rules that apply on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from corral.cli._output import (
    HomeOpt,
    JsonOpt,
    PluginDirArg,
    PolicyOpt,
    console,
    emit_json,
    limits_table,
    load_granted,
    permissions_table,
    summary,
)
from corral.policy import AdminPolicy, Grant, Manifest, Permission

policy_app = typer.Typer(no_args_is_help=True, help="Inspect what policy grants a plugin.")


def declared_outcomes(manifest: Manifest, granted: Grant) -> list[dict[str, str]]:
    """Each declared permission's fate: granted, expanded, narrowed or dropped, with why."""
    return [_outcome(p, granted) for p in dict.fromkeys(manifest.permissions)]


def _outcome(p: Permission, granted: Grant) -> dict[str, str]:
    text, dropped = str(p), dict(granted.dropped)
    if text in dropped:
        outcome = "narrowed" if "narrowed to" in dropped[text] else "dropped"
        return {"permission": text, "outcome": outcome, "reason": dropped[text]}
    if p in granted.permissions:
        return {"permission": text, "outcome": "granted", "reason": "declared"}
    means = [str(q) for q in granted.permissions if (q.domain, q.action) == (p.domain, p.action)]
    return {"permission": text, "outcome": "expanded", "reason": "means " + ", ".join(means)}


def _json(manifest: Manifest, granted: Grant, admin: AdminPolicy, source: Path | None) -> None:
    data: dict[str, Any] = {
        "ok": True,
        "plugin": manifest.name,
        "version": manifest.version,
        "policy": str(source) if source else None,
        "declared": declared_outcomes(manifest, granted),
        "grant": granted.to_wire(),
        "ceilings": admin.tier(granted.tier).limits.model_dump(),
    }
    emit_json(data)


def _text(manifest: Manifest, granted: Grant, admin: AdminPolicy, source: Path | None) -> None:
    console.print(f"[bold]{manifest.name}[/bold] {manifest.version}: {summary(granted)}")
    console.print(f"policy: {source or 'built-in defaults'}")
    rows = [
        (r["permission"], f"{r['outcome']}: {r['reason']}")
        for r in declared_outcomes(manifest, granted)
    ]
    console.print(permissions_table("declared", rows, "cyan"))
    console.print(
        permissions_table("granted", [(str(p), "") for p in granted.permissions], "green")
    )
    if granted.denies:
        console.print(
            permissions_table(
                "denied (beats any grant)", [(str(p), "") for p in granted.denies], "red"
            )
        )
    console.print(limits_table(granted, admin))
    for label, values in (
        ("blocked commands", granted.blocked_commands),
        ("writable extensions", granted.allowed_extensions),
        ("blocked paths", granted.blocked_paths),
    ):
        if values:
            console.print(f"{label}: {', '.join(values)}")
    for note in granted.notes:
        console.print(f"note: {escape(note)}")


@policy_app.command("show")
def show(
    plugin_dir: PluginDirArg,
    policy: PolicyOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show what the plugin would be granted, and why, under the admin policy."""
    loaded = load_granted(plugin_dir, policy, home, as_json)
    (_json if as_json else _text)(loaded.manifest, loaded.grant, loaded.admin, loaded.source)
