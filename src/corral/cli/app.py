"""The typer application; each command group lives in its own module."""

from __future__ import annotations

import typer

import corral

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"corral {corral.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Run untrusted Python plugins in a pen the Linux kernel enforces."""


def _register() -> None:
    from corral.cli.doctor import doctor
    from corral.cli.run import run

    app.command("run")(run)
    app.command("doctor")(doctor)

    from corral.cli.new import new
    from corral.cli.policy_cmd import policy_app
    from corral.cli.validate import validate

    app.command("validate")(validate)
    app.command("new")(new)
    app.add_typer(policy_app, name="policy")

    from corral.cli.container_cmd import container_app

    app.add_typer(container_app, name="container")


_register()


def main() -> None:
    app()
