"""``corral doctor``: which confinement layers this machine can apply, and what that means."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

import corral
from corral.cli._output import JsonOpt
from corral.sandbox import probe


def _engine_row() -> probe.LayerStatus:
    """The container engine as one more row: isolation='container' needs it reachable."""
    info = corral.container_engine()
    detail = info.detail
    if info.security_options:
        detail += "; security: " + ", ".join(info.security_options)
    return probe.LayerStatus(
        "container", info.reachable, detail, "a Docker or Podman engine on its socket (DOCKER_HOST)"
    )


def doctor(as_json: JsonOpt = False) -> None:
    """Report each confinement layer: available here or not, and the kernel requirement."""
    statuses = [*probe.probe(), _engine_row()]
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
