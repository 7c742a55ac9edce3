"""``corral serve``: run the dashboard, or add an administrator to it (``--add-admin``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from corral.cli._output import HomeOpt, console, errors
from corral.errors import CorralError

PASSWORD_ENV = "CORRAL_ADMIN_PASSWORD"  # noqa: S105 - a variable name


def serve(  # noqa: PLR0917 - a CLI command's signature is its options
    home: HomeOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8765,
    bind_any: Annotated[
        bool, typer.Option("--bind-any", help="Allow an address other than loopback.")
    ] = False,
    audit: Annotated[
        str | None, typer.Option("--audit", help="Audit store URL or path, if not the home's.")
    ] = None,
    add_admin: Annotated[
        str | None,
        typer.Option(
            "--add-admin",
            metavar="NAME",
            help=f"Create (or reset) administrator NAME and exit; password from a prompt or "
            f"${PASSWORD_ENV}.",
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="With --add-admin: may look, may not change.")
    ] = False,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark the session cookie Secure (HTTPS).")
    ] = False,
) -> None:
    """Serve the dashboard on http://127.0.0.1:8765 (login required)."""
    try:
        from corral.dashboard import Accounts, make_server
    except ImportError as exc:  # the extra is not installed
        errors.print(f"[red]error[/red]: the dashboard needs corral[dashboard] ({exc.name})")
        raise typer.Exit(1) from None
    from corral.runtime.home import default_home

    root = home if home is not None else default_home()
    try:
        if add_admin is not None:
            password = os.environ.get(PASSWORD_ENV) or typer.prompt(
                f"password for {add_admin}", hide_input=True, confirmation_prompt=True
            )
            Path(root).mkdir(parents=True, exist_ok=True)
            admin = Accounts(Path(root) / "corral.db").add(
                add_admin, password, "read-only" if read_only else "admin"
            )
            console.print(f"administrator {escape(admin.name)} ({admin.role}) saved in {root}")
            return
        server = make_server(
            root,
            host=host,
            port=port,
            bind_any=bind_any,
            audit=audit,
            secure_cookies=secure_cookies,
        )
    except CorralError as exc:
        errors.print(f"[red]error[/red]: {escape(str(exc).splitlines()[0])}")
        raise typer.Exit(1) from None
    shown = f"[{host}]" if ":" in host else host
    console.print(f"corral dashboard for {root} on http://{shown}:{port}/ (Ctrl-C stops it)")
    server.run()
