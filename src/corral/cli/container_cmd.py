"""``corral container``: the container backend's image, built here without a registry."""

from __future__ import annotations

from typing import Annotated

import typer

import corral

container_app = typer.Typer(help="The container backend (isolation='container').")

EngineOpt = Annotated[str, typer.Option(help="docker or podman")]
SocketOpt = Annotated[str, typer.Option(help="engine socket; default DOCKER_HOST or the usual")]
TagOpt = Annotated[str, typer.Option(help="image tag; default the one hosts look for")]


@container_app.command("build-image")
def build_image(engine: EngineOpt = "docker", socket: SocketOpt = "", tag: TagOpt = "") -> None:
    """Build the worker image from this host's interpreter and corral; pulls nothing."""
    try:
        config = corral.ContainerConfig(engine=engine, socket=socket)
        built = corral.build_container_image(config, tag)
    except (corral.CorralError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(built)
