"""``corral run``: one call in the very same pen a host would use.

Plugin authors run their code locally under the real sandbox, so a denial
they see here is the denial production will give, with the manifest line
that would allow it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from corral.cli._output import HomeOpt, JsonOpt, PluginDirArg
from corral.errors import CorralError, PermissionDenied
from corral.runtime import Host

console = Console(stderr=True)


def _error_dict(exc: CorralError) -> dict[str, Any]:
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, PermissionDenied):
        error["permission"] = exc.permission
    for attr in ("limit", "exit_code", "signal"):
        if getattr(exc, attr, None) not in (None, ""):
            error[attr] = getattr(exc, attr)
    return error


def _parse_args(raw: str) -> tuple[list[Any], dict[str, Any]]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--args is not JSON: {exc}") from None
    if isinstance(value, dict):
        return [], value
    if isinstance(value, list):
        return value, {}
    return [value], {}


CallableArg = Annotated[str, typer.Argument(metavar="CALLABLE", help="What to call.")]
ArgsOpt = Annotated[
    str, typer.Option("--args", help="JSON list (positional) or object (keywords).")
]
IsolationOpt = Annotated[str, typer.Option(help="kernel, or process where namespaces are missing.")]


def run(  # noqa: PLR0917 - a CLI command's signature is its options
    plugin_dir: PluginDirArg,
    callable_name: CallableArg,
    args: ArgsOpt = "[]",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
    isolation: IsolationOpt = "kernel",
) -> None:
    """Run one call of a plugin in the sandbox and print the result."""
    try:
        positional, keywords = _parse_args(args)
    except typer.BadParameter as exc:
        if not as_json:
            raise
        _print({"ok": False, "error": {"type": "UsageError", "message": str(exc)}}, True)
        raise typer.Exit(2) from None
    outcome: dict[str, Any]
    with tempfile.TemporaryDirectory(prefix="corral-run-") as scratch:
        # Searchable (not listable) by others: a pen without the mount layer
        # (--isolation process) reaches its store copy by this host path.
        os.chmod(scratch, 0o711)  # noqa: S103 - search only, no listing
        try:
            with Host(home=home or Path(scratch), isolation=isolation) as host:
                plugin = host.load(plugin_dir)
                value = plugin.call(callable_name, *positional, **keywords)
                usage = plugin.last_usage.to_dict() if plugin.last_usage else {}
                outcome = {"ok": True, "result": value, "usage": usage}
        except CorralError as exc:
            outcome = {"ok": False, "error": _error_dict(exc), "usage": {}}
        except TypeError as exc:
            error = {"type": "TypeError", "message": str(exc)}
            outcome = {"ok": False, "error": error, "usage": {}}
    _print(outcome, as_json)
    raise typer.Exit(0 if outcome["ok"] else 1)


def _print(outcome: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(outcome, default=str))
    elif outcome["ok"]:
        typer.echo(json.dumps(outcome["result"], indent=2, default=str))
        console.print(f"[dim]usage: {outcome['usage']}[/dim]")
    else:
        err = outcome["error"]
        console.print(f"[bold red]{err['type']}[/bold red]: {err['message']}")
