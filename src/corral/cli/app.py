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

    from corral.cli.trust_cmd import keygen, keyring_app, pack_cmd, sign, verify

    app.command("keygen")(keygen)
    app.command("pack")(pack_cmd)
    app.command("sign")(sign)
    app.command("verify")(verify)
    app.add_typer(keyring_app, name="keyring")
    from corral.cli.vet_cmd import vet

    app.command("vet")(vet)

    from corral.cli.vuln_cmd import vuln_app

    app.add_typer(vuln_app, name="vuln")
    from corral.cli.review_cmd import review_app

    app.add_typer(review_app, name="review")
    from corral.cli.audit_cmd import audit_app

    app.add_typer(audit_app, name="audit")
    from corral.cli import report_cmd

    app.command("report")(report_cmd.report)
    from corral.cli.plugins_cmd import plugins_app

    app.add_typer(plugins_app, name="plugins")
    for verb in ("suspend", "resume", "disable", "enable", "approve"):
        app.command(verb)(getattr(report_cmd, verb))
    from corral.cli.container_cmd import container_app

    app.add_typer(container_app, name="container")
    from corral.cli.serve_cmd import serve

    app.command("serve")(serve)


_register()


def main() -> None:
    app()
