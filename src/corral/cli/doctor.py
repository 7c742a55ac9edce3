"""``corral doctor``: which confinement layers this machine can apply, and what that means."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from corral.cli._output import JsonOpt
from corral.sandbox import probe


def doctor(as_json: JsonOpt = False) -> None:
    """Report each confinement layer: available here or not, and the kernel requirement."""
    statuses = probe.probe()
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in statuses]))
        return
    table = Table(title="corral doctor: confinement layers on this machine")
    for column in ("layer", "available", "detail", "requirement"):
        table.add_column(column)
    for status in statuses:
        mark = "[green]yes[/green]" if status.available else "[red]no[/red]"
        table.add_row(status.layer, mark, status.detail, status.requirement)
    Console().print(table)
