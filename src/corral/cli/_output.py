"""Output shared by the CLI's commands: rich for people, one JSON object for machines.

Every command takes ``--json``; with it, stdout carries exactly one JSON object
and nothing else, so scripts can parse it. Errors are never tracebacks: a
``CorralError`` is printed as its issues (or its message) and the command
exits 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corral.errors import CorralError, ManifestError
from corral.manifest import load_manifest, load_policy
from corral.policy import AdminPolicy, Grant, Manifest, grant

PluginDirArg = Annotated[
    Path, typer.Argument(help="The plugin directory (with plugin.yaml or plugin.json).")
]
PolicyOpt = Annotated[Path | None, typer.Option("--policy", help="Admin policy file to apply.")]
HomeOpt = Annotated[Path | None, typer.Option("--home", help="CORRAL_HOME (for its policy.yaml).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: dict[str, Any]) -> None:
    """Print one JSON object on stdout."""
    typer.echo(json.dumps(data, indent=2, default=str))


def error_list(exc: CorralError, source: str = "") -> list[dict[str, Any]]:
    """An error as a list of ``{file, line, field, message}`` records."""
    if isinstance(exc, ManifestError):
        return [
            {"file": i.file, "line": i.line, "field": i.field, "message": i.message}
            for i in exc.issues
        ]
    return [{"file": source, "line": None, "field": "", "message": str(exc)}]


def fail(exc: CorralError, as_json: bool, source: str = "") -> NoReturn:
    """Report ``exc`` (JSON or text) and exit 1."""
    if as_json:
        emit_json({"ok": False, "errors": error_list(exc, source)})
    else:
        errors.print(f"[red]invalid[/red]: {len(error_list(exc, source))} problem(s)")
        for record in error_list(exc, source):
            errors.print(escape(_issue_line(record)))
    raise typer.Exit(1)


def _issue_line(record: dict[str, Any]) -> str:
    where = record["file"] + (f":{record['line']}" if record["line"] else "")
    field = f" {record['field']}:" if record["field"] else ""
    return f"  {where}{field} {record['message']}"


def policy_source(policy: Path | None, home: Path | None) -> Path | None:
    """The policy file in force: ``--policy``, else ``policy.yaml`` in the home, if any."""
    if policy is not None:
        return policy
    if home is None:
        from corral.runtime.home import default_home

        home = default_home()
    candidate = home / "policy.yaml"
    return candidate if candidate.exists() else None


@dataclass(frozen=True)
class Granted:
    """A plugin's manifest, the admin policy in force, and what it grants."""

    manifest: Manifest
    admin: AdminPolicy
    grant: Grant
    source: Path | None


def load_granted(
    plugin_dir: Path, policy: Path | None, home: Path | None, as_json: bool
) -> Granted:
    """Read manifest and policy and compute the grant, or report the errors and exit 1."""
    source = policy_source(policy, home)
    try:
        manifest = load_manifest(plugin_dir)
        admin = load_policy(source)
        return Granted(manifest, admin, grant(manifest, admin), source)
    except CorralError as exc:
        fail(exc, as_json, str(source or ""))


def permissions_table(title: str, rows: list[tuple[str, str]], style: str) -> Table:
    """Permissions and, when any is given, why each is there or not."""
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("permission", style=style)
    explained = any(why for _, why in rows)
    if explained:
        table.add_column("why")
    for permission, why in rows:
        table.add_row(escape(permission), *([escape(why)] if explained else []))
    return table


def limits_table(granted: Grant, policy: AdminPolicy) -> Table:
    """Each limit: what was asked, the tier ceiling and what was given."""
    ceiling = policy.tier(granted.tier).limits
    cuts = {name: reason for name, _, _, reason in granted.clamped}
    table = Table(title="limits", title_justify="left", show_edge=False)
    for column in ("limit", "given", "ceiling", "note"):
        table.add_column(column)
    for name in type(granted.limits).model_fields:
        given, top = getattr(granted.limits, name), getattr(ceiling, name)
        note = f"[yellow]{escape(cuts[name])}[/yellow]" if name in cuts else ""
        table.add_row(name, f"{given:g}", f"{top:g}", note)
    return table


def summary(granted: Grant) -> str:
    """One line: tier, network level and isolation."""
    return (
        f"tier [bold]{granted.tier}[/bold], network [bold]{granted.network}[/bold], "
        f"isolation [bold]{granted.isolation}[/bold]"
    )
