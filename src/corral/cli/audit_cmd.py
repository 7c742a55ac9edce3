"""``corral audit query|verify|prune``: read, prove and trim a home's audit log from outside.

The administrator's side of the log a host writes: the CLI finds the same
store the host uses (``--audit``, else ``$CORRAL_AUDIT_URL``, else
``audit:`` in the home's policy.yaml, else ``corral.db`` in the home) and
never creates one where none exists, so a typo in ``--home`` is an error,
not an empty answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

import corral
from corral.audit import (
    DEFAULT_RETENTION,
    AuditSink,
    ChainReport,
    audit_target,
    describe,
    parse_duration,
    policy_audit,
)
from corral.audit.retention import since_ago
from corral.cli._output import HomeOpt, JsonOpt, console, emit_json, errors, fail, policy_source
from corral.errors import CorralError
from corral.manifest import load_policy

audit_app = typer.Typer(no_args_is_help=True, help="Query, verify and prune the audit log.")

AuditOpt = Annotated[
    str | None,
    typer.Option(
        "--audit", help="Store URL or path (postgresql://..., sqlite:///path, a .db file)."
    ),
]


def _moment(value: str | None) -> float | None:
    """``--since 2h`` (that long ago) or an ISO time, as epoch seconds."""
    return None if value is None else since_ago(value, time.time())


def _checked_moment(value: str | None) -> str | None:
    """Refuse an unreadable ``--since``/``--until`` naming the option, before any work."""
    try:
        _moment(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _duration(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _die(exc: CorralError, as_json: bool) -> NoReturn:
    """One line on stderr (or the shared JSON error object) and exit 1."""
    if as_json:
        fail(exc, as_json)
    errors.print(f"[red]error[/red]: {escape(str(exc).splitlines()[0])}")
    raise typer.Exit(1)


@contextmanager
def _store(home: Path | None, audit: str | None, as_json: bool) -> Iterator[AuditSink]:
    """The store this home's host writes to, opened; an error if there is none."""
    from corral.runtime.home import default_home

    root = home if home is not None else default_home()
    try:
        policy = load_policy(policy_source(None, root))
        target = audit_target(audit, policy_value=policy_audit(policy), default=root / "corral.db")
        if target == "memory":
            raise corral.AuditError("the memory store lives only inside its host process")
        if "://" not in target or target.startswith("sqlite:"):
            path = Path(target.removeprefix("sqlite:///"))
            if not path.exists():
                raise corral.AuditError(f"no audit log at {path} (wrong --home or --audit?)")
        store = corral.open_store(target)
    except CorralError as exc:
        _die(exc, as_json)
    try:
        yield store
    finally:
        store.close()


@audit_app.command("query")
def query(  # noqa: PLR0917 - a CLI command's signature is its options
    plugin: Annotated[str | None, typer.Option(help="Only this plugin.")] = None,
    decision: Annotated[str | None, typer.Option(help="allow, deny or info.")] = None,
    kind: Annotated[str | None, typer.Option(help="Event kind, e.g. denied, grant.")] = None,
    since: Annotated[
        str | None,
        typer.Option(callback=_checked_moment, help="From: 2h, 7d (ago) or an ISO time."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(callback=_checked_moment, help="Before: 2h, 7d (ago) or an ISO time."),
    ] = None,
    host_id: Annotated[str | None, typer.Option("--host-id", help="Only this host.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many (oldest first).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per line.")] = False,
    home: HomeOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Events matching every filter, oldest first: a table, a JSON array or JSON lines."""
    start, end = _moment(since), _moment(until)
    with _store(home, audit, as_json) as store:
        try:
            found = store.query(
                plugin=plugin,
                decision=decision,
                kind=kind,
                since=start,
                until=end,
                host_id=host_id,
                limit=limit,
            )
        except CorralError as exc:
            _die(exc, as_json)
    records = [e.to_dict() for e in found]
    if jsonl:
        for record in records:
            typer.echo(json.dumps(record, sort_keys=True))
    elif as_json:
        typer.echo(json.dumps(records, indent=2, sort_keys=True))
    else:
        console.print(_table(records))


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(records: list[dict[str, Any]]) -> Table:
    """One row per event, the details under the kind, so it reads at 80 columns.

    A decision the worker reported (which the plugin controls) is marked
    ``(worker)``; unmarked ones are the host's own observations. The host
    column appears only when several hosts wrote.
    """
    hosts = sorted({r["host_id"] for r in records})
    many = len(hosts) > 1
    title = f"{len(records)} event(s)" + ("" if many or not hosts else f" from host {hosts[0]}")
    table = Table(title=escape(title), title_justify="left", show_edge=False, show_lines=True)
    for column in ("time (UTC)", *(["host"] if many else []), "seq", "plugin", "decision"):
        table.add_column(column, no_wrap=True)
    table.add_column("event", overflow="fold", min_width=24)
    colour = {"deny": "red", "allow": "green"}
    for r in records:
        details = json.dumps(r["details"], sort_keys=True)
        details = details if len(details) <= 300 else details[:297] + "..."
        style = colour.get(r["decision"], "default")
        by = " (worker)" if r["source"] == "worker" else ""
        table.add_row(
            _when(r["time"]),
            *([escape(r["host_id"])] if many else []),
            str(r["seq"]),
            escape(r["plugin"]),
            f"[{style}]{r['decision']}[/{style}]{by}",
            f"[bold]{escape(r['kind'])}[/bold]" + (f"\n{escape(details)}" if r["details"] else ""),
        )
    return table


def _report(report: ChainReport) -> dict[str, Any]:
    problem = report.problem
    return {
        "host_id": report.host_id,
        "ok": report.ok,
        "records": report.records,
        "first_seq": report.first_seq,
        "last_seq": report.last_seq,
        "checkpoint_seq": report.checkpoint.seq if report.checkpoint else None,
        "problem": None
        if problem is None
        else {"seq": problem.seq, "id": problem.id, "what": problem.what, "detail": problem.detail},
    }


@audit_app.command("verify")
def verify(as_json: JsonOpt = False, home: HomeOpt = None, audit: AuditOpt = None) -> None:
    """Prove every host's hash chain; exit 1 naming the first bad record."""
    with _store(home, audit, as_json) as store:
        checker = getattr(store, "verify", None)
        if checker is None:
            _die(corral.AuditError("this store keeps no verifiable chain"), as_json)
        try:
            reports: list[ChainReport] = checker()
        except CorralError as exc:
            _die(exc, as_json)
    ok = all(r.ok for r in reports)
    if as_json:
        emit_json({"ok": ok, "hosts": [_report(r) for r in reports]})
    else:
        for report in reports:
            out = console if report.ok else errors
            mark = "[green]ok[/green]" if report.ok else "[red]BROKEN[/red]"
            out.print(f"{mark} {escape(report.summary())}")
        if not reports:
            console.print("no records yet")
    if not ok:
        raise typer.Exit(1)


@audit_app.command("prune")
def prune(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than", callback=_duration, help="Delete records older than this (365d, 12h)."
        ),
    ] = DEFAULT_RETENTION,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
    audit: AuditOpt = None,
) -> None:
    """Delete old records, leaving a checkpoint so the rest still verifies; recorded as an event."""
    with _store(home, audit, as_json) as store:
        pruner = getattr(store, "prune", None)
        if pruner is None:
            _die(corral.AuditError("this store does not support pruning"), as_json)
        where = describe(getattr(store, "url", None) or str(getattr(store, "path", "")))
        if not yes and not typer.confirm(
            f"Delete audit records older than {older_than} in {where}?"
        ):
            errors.print("aborted: nothing deleted")
            raise typer.Exit(1)
        try:
            done = pruner(older_than)
        except CorralError as exc:
            _die(exc, as_json)
    if as_json:
        emit_json(
            {
                "ok": True,
                "older_than": older_than,
                "hosts": [
                    {"host_id": p.host_id, "deleted": p.deleted, "checkpoint_seq": p.checkpoint.seq}
                    for p in done
                ],
            }
        )
        return
    for p in done:
        console.print(
            f"host {escape(p.host_id)}: deleted {p.deleted} record(s); "
            f"checkpoint at seq {p.checkpoint.seq}"
        )
    if not done:
        console.print(f"nothing older than {older_than}")
