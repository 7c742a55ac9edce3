"""``corral doctor``: which confinement layers this machine can apply, and what that means."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

import corral
from corral.cli._output import HomeOpt, JsonOpt, policy_source
from corral.errors import CorralError
from corral.manifest import load_policy
from corral.sandbox import probe


def _engine_row(home: Path | None) -> probe.LayerStatus:
    """The container engine as one more row: isolation='container' needs it reachable.

    The engine asked is the one the home's policy names (its ``container:``
    section), so the row answers for the engine the hosts will use.
    """
    config = None
    source = policy_source(None, home)
    if source is not None:
        with contextlib.suppress(CorralError):  # `corral policy` reports a broken file
            section = load_policy(source).container
            config = corral.ContainerConfig(**section.model_dump()) if section else None
    info = corral.container_engine(config)
    detail = info.detail
    if info.security_options:
        detail += "; security: " + ", ".join(info.security_options)
    return probe.LayerStatus(
        "container", info.reachable, detail, "a Docker or Podman engine on its socket (DOCKER_HOST)"
    )


def doctor(as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Report each confinement layer: available here or not, and the kernel requirement."""
    statuses = [*probe.probe(), _engine_row(home)]
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
