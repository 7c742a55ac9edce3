"""``corral review``: record a security review of one plugin version, and list them (seed 001).

``corral review NAME VERSION --level internal --notes FILE`` stores who
reviewed which exact version, at which level, with which notes and when, in
the home's ``corral.db`` (``trust_reviews``), and writes a ``review.recorded``
audit event carrying the operating-system user who ran it. Professional and
enterprise versions (policy: ``requires_review`` per tier), and any version a
high vulnerability report affects, load only once reviewed; the refusal names
this command.
"""

from __future__ import annotations

import getpass
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from corral import HomeAdmin
from corral.cli._output import HomeOpt, JsonOpt, console, emit_json, fail
from corral.errors import CorralError, HostError


class _AddByDefault(TyperGroup):
    """``corral review NAME VERSION ...`` means ``corral review add NAME VERSION ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["add", *args]
        return super().parse_args(ctx, args)


review_app = typer.Typer(
    cls=_AddByDefault,
    no_args_is_help=True,
    help="Security reviews of plugin versions: corral review NAME VERSION --level ... --notes FILE",
)


def _notes(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HostError(f"--notes {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HostError(f"--notes {path}: not UTF-8 text") from None


@review_app.command("add")
def add(  # noqa: PLR0917 - a CLI command's signature is its options
    plugin: Annotated[str, typer.Argument(help="The plugin's name.")],
    version: Annotated[str, typer.Argument(help="The exact version reviewed.")],
    level: Annotated[
        str, typer.Option("--level", help="internal or external (seed 001's levels).")
    ],
    notes: Annotated[Path, typer.Option("--notes", help="A text file with the review's notes.")],
    reviewer: Annotated[
        str | None, typer.Option("--reviewer", help="Who reviewed it (default: you).")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a security review of PLUGIN VERSION (audited, with your OS user)."""
    try:
        admin = HomeAdmin(home)
        review = admin.reviews().add(
            plugin,
            version,
            level=level.lower(),
            notes=_notes(notes),
            reviewer=reviewer if reviewer is not None else getpass.getuser(),
        )
        admin.record(
            "review.recorded",
            plugin,
            "allow",
            version=version,
            review=review.id,
            level=review.level,
            reviewer=review.reviewer,
            reviewed_at=review.reviewed_at,
            notes_sha256=hashlib.sha256(review.notes.encode("utf-8")).hexdigest(),
            by="cli",
        )
    except CorralError as exc:
        fail(exc, as_json)
    if as_json:
        emit_json({"ok": True, "review": review.to_dict()})
        return
    console.print(
        f"recorded a {review.level} review of {escape(plugin)} {escape(version)} "
        f"by {escape(review.reviewer)}"
    )


@review_app.command("list")
def list_reviews(
    plugin: Annotated[str | None, typer.Argument(help="Only this plugin.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List recorded reviews, oldest first."""
    admin = HomeAdmin(home)
    try:
        rows = admin.reviews().reviews(plugin)
    except CorralError as exc:
        fail(exc, as_json)
    finally:
        admin.close()
    if as_json:
        emit_json({"ok": True, "reviews": [r.to_dict() for r in rows]})
        return
    table = Table(show_edge=False)
    for column in ("plugin", "version", "level", "reviewer", "date", "notes"):
        table.add_column(column)
    for r in rows:
        first = r.notes.strip().splitlines()[0] if r.notes.strip() else ""
        table.add_row(
            escape(r.plugin),
            escape(r.version),
            r.level,
            escape(r.reviewer),
            _day(r.reviewed_at),
            escape(first),
        )
    console.print(table if rows else "no reviews")


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
