"""``corral validate PLUGIN_DIR``: is this manifest valid, and what would it get?

The plugin author's first check: every mistake in ``plugin.yaml`` at once,
each with its line, and otherwise a short account of the grant, including
what the tier cut, so nothing is a surprise when the plugin first runs.
"""

from __future__ import annotations

from rich.markup import escape

from corral.cli._output import (
    HomeOpt,
    JsonOpt,
    PluginDirArg,
    PolicyOpt,
    console,
    emit_json,
    load_granted,
    permissions_table,
    summary,
)
from corral.manifest import find_manifest


def validate(
    plugin_dir: PluginDirArg,
    policy: PolicyOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a plugin's manifest and summarise what it would be granted."""
    loaded = load_granted(plugin_dir, policy, home, as_json)
    manifest, granted, source = loaded.manifest, loaded.grant, loaded.source
    path = str(find_manifest(plugin_dir))
    if as_json:
        emit_json(
            {
                "ok": True,
                "file": path,
                "policy": str(source) if source else None,
                "manifest": manifest.model_dump(mode="json"),
                "grant": granted.to_wire(),
            }
        )
        return
    console.print(f"[green]valid[/green]: {manifest.name} {manifest.version} ({path})")
    console.print(summary(granted))
    console.print(
        permissions_table("granted", [(str(p), "") for p in granted.permissions], "green")
    )
    if granted.dropped:
        console.print(permissions_table("dropped", list(granted.dropped), "red"))
    for note in granted.notes:
        console.print(f"note: {escape(note)}")
    for name, _, given, reason in granted.clamped:
        console.print(f"clamped: {name} = {given:g} ({escape(reason)})")
