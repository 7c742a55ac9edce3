"""corral's main job, shown: real plugins, good and malicious, run in the pen.

`make demo` runs this. A well-behaved plugin does its work; a malicious one
tries to read secrets, write outside its directory, reach the network, spawn
programs, signal the host and exhaust resources. Each attempt is judged from
outside the pen, and the table shows what was allowed, what was denied, and
which permission would have allowed it.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from workorders.app import WorkOrderApp

import corral
from corral.audit import AuditSink
from corral.manifest import load_manifest
from corral.policy import default_policy, grant

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "tests" / "plugins" / "good"
BAD = ROOT / "tests" / "plugins" / "fixtures" / "malicious_plugin"
DEMO_HOME = "/var/tmp/corral-demo-home"
console = Console(width=150)


def contained(value: Any) -> bool:
    """A resource attack that returned, but was held to its limit."""
    return isinstance(value, dict) and bool(value.get("failed") or value.get("error"))


def attempt(plugin: Any, name: str, *args: Any) -> tuple[str, str]:
    """Run one call; return (decision, reason) for the table."""
    try:
        value = plugin.call(name, *args)
    except corral.PermissionDenied as exc:
        return "denied", (exc.permission and f"needs {exc.permission}") or str(exc)[:80]
    except corral.CorralError as exc:
        return "denied", f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    if contained(value):
        return "limited", repr(value)[:90]
    return "allowed", repr(value)[:90]


def show_manifests() -> None:
    """Validate every example manifest: grant summaries, or each mistake with its line."""
    table = Table(title="example manifests: validated before anything runs")
    for column in ("plugin dir", "outcome"):
        table.add_column(column, overflow="fold")
    for plugin in sorted((ROOT / "examples" / "plugins").iterdir()):
        if not plugin.is_dir():
            continue
        try:
            granted = grant(load_manifest(plugin), default_policy())
        except corral.ManifestError as exc:
            lines = [str(issue) for issue in exc.issues]
            outcome = f"[red]{len(lines)} mistakes[/red]\n" + "\n".join(lines[:6]) + "\n..."
        else:
            perms = ", ".join(str(p) for p in granted.permissions)
            cut = f"; dropped/clamped: {len(granted.dropped) + len(granted.clamped)}"
            outcome = f"[green]valid[/green], tier {granted.tier}, network {granted.network}: {perms}{cut}"
        table.add_row(plugin.name, outcome)
    console.print(table)


def good_rows(host: corral.Host) -> list[tuple[str, str, str, str]]:
    plugin = host.load(GOOD)
    rows = []
    for label, name, args in [
        ("call with state kept across calls", "echo", ("hello",)),
        ("read shipped data (file:read=data/**)", "cities", ()),
        ("write + rename in $WORK", "write_note", ("note.txt", "hi")),
        ("sqlite in $WORK", "sqlite_roundtrip", ()),
        ("threads", "threads", (4,)),
        ("read data/secrets (deny wins)", "secret", ()),
    ]:
        decision, reason = attempt(plugin, name, *args)
        rows.append((plugin.name, label, decision, reason))
    return rows


def bad_rows(host: corral.Host, outside: Path, port: int) -> list[tuple[str, str, str, str]]:
    plugin = host.load(BAD)
    secret = str(outside / "secret.txt")
    attacks: list[tuple[str, str, tuple[Any, ...]]] = [
        ("open() a file outside the grant", "read_open", (secret,)),
        ("same file via ctypes libc open()", "read_ctypes", (secret,)),
        ("same file via raw openat syscall", "read_syscall", (secret,)),
        ("/etc/passwd via ctypes", "read_ctypes", ("/etc/passwd",)),
        ("write outside $WORK", "write_file", (str(outside / "pwned"),)),
        ("symlink escape from $WORK", "symlink_escape", (secret,)),
        ("connect to a host listener", "connect", ("127.0.0.1", port)),
        ("connect via ctypes socket", "connect_ctypes", (port,)),
        ("spawn /usr/bin/id", "spawn", (["/usr/bin/id"],)),
        ("read the host's environ", "environ_of", (os.getpid(),)),
        ("ptrace the host", "ptrace_attach", (os.getpid(),)),
        ("create a user namespace", "unshare_userns", ()),
        ("fork bomb (200 forks; processes: 16)", "fork_bomb", (200,)),
        ("memory bomb (1 GiB)", "memory_bomb", (1024,)),
        ("busy loop (CPU quota 25%, then the timeout)", "busy_loop", (30,)),
        ("sleep past the call timeout", "sleep", (30,)),
        ("fd flood (10,000 opens; open_files: 64)", "fd_flood", (10_000,)),
    ]
    rows = []
    for label, name, args in attacks:
        decision, reason = attempt(plugin, name, *args)
        rows.append((plugin.name, label, decision, reason))
    return rows


def show(rows: list[tuple[str, str, str, str]], audit: AuditSink) -> None:
    table = Table(title="corral demo: every call ran in a kernel-confined pen")
    for column in ("plugin", "operation", "decision", "result / reason"):
        table.add_column(column, overflow="fold")
    for plugin, label, decision, reason in rows:
        colour = {"allowed": "green", "limited": "yellow"}.get(decision, "red")
        table.add_row(plugin, label, f"[{colour}]{decision}[/{colour}]", reason)
    console.print(table)
    events = audit.query()
    denials = [e for e in events if e.kind == "denied"]
    console.print(f"audit: {len(events)} events, {len(denials)} guard denials recorded")


def with_listener(fn: Callable[[int], None]) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    try:
        fn(server.getsockname()[1])
        try:
            server.accept()
            console.print("[bold red]the listener saw a connection![/bold red]")
            sys.exit(1)
        except BlockingIOError:
            console.print("host listener: no connection from any pen (checked from outside)")
    finally:
        server.close()


def show_workorders(home: Path) -> None:
    """The work-order app: host functions behind permissions and a hook, across pens."""
    with corral.Host(home=home) as host:
        audit = host.audit
        app = WorkOrderApp(host)
        for title in ("replace pump seal", "calibrate gauge", "inspect weld"):
            app.orders.add(title)
        summary = host.load(ROOT / "examples" / "plugins" / "work-order-summary")
        rogue = host.load(ROOT / "examples" / "plugins" / "work-order-rogue")
        table = Table(title="work-order app: plugins reach the store only through host functions")
        for column in ("plugin", "operation", "decision", "result / reason"):
            table.add_column(column, overflow="fold")
        for plugin, label, name in [
            (summary, "summarise via work_orders.list", "summarise"),
            (rogue, "close every order via work_orders.update", "close_everything"),
        ]:
            decision, reason = attempt(plugin, name)
            colour = "green" if decision == "allowed" else "red"
            table.add_row(plugin.name, label, f"[{colour}]{decision}[/{colour}]", reason)
        order, results = app.create_order("replace filter")
        for result in results:
            label = f"hook work_order.created (order {order['id']})"
            if result.ok:
                table.add_row(result.plugin, label, "[green]allowed[/green]", repr(result.value))
            else:
                error = result.error
                why = getattr(error, "permission", "") or str(error)[:80]
                table.add_row(result.plugin, label, "[red]denied[/red]", f"needs {why}")
        console.print(table)
        untouched = all(o["status"] == "open" for o in app.orders.list())
        calls = audit.query(kind="hostcall")
        refused = [e for e in calls if e.decision == "deny"]
        console.print(
            f"audit: {len(calls)} host calls, {len(refused)} refused "
            f"({', '.join(sorted({e.details['function'] for e in refused}))}); "
            f"store checked from the host: {'no order was changed' if untouched else 'CHANGED'}"
        )
        if not untouched:
            console.print("[bold red]a refused host function changed the store![/bold red]")
            sys.exit(1)


def main() -> None:
    show_manifests()
    outside = Path(tempfile.mkdtemp(prefix="corral-demo-", dir="/var/tmp"))
    outside.chmod(0o755)
    (outside / "secret.txt").write_text("TOPSECRET")
    (outside / "secret.txt").chmod(0o644)
    home = demo_home()
    try:
        with corral.Host(home=home) as host:  # audit log: the home's corral.db

            def run(port: int) -> None:
                show(good_rows(host) + bad_rows(host, outside, port), host.audit)

            with_listener(run)
        if (outside / "pwned").exists():
            console.print("[bold red]a write escaped the pen![/bold red]")
            sys.exit(1)
        console.print("outside the pen: secret unread, no file written (checked from outside)")
        show_workorders(home)
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    console.print(
        f"the demo's home (plugins, usage, violations, audit log) is kept in {home}; see it in "
        f"the dashboard:\n  corral serve --home {home} --add-admin admin   # once\n"
        f"  corral serve --home {home}                      # http://127.0.0.1:8765/"
    )


def demo_home() -> Path:
    """A fresh home each run, kept afterwards so ``corral serve`` can show what happened.

    Under /var/tmp and searchable (0711), like the tests' homes, so a pen's
    unprivileged uid reaches its store and work directories.
    """
    home = Path(os.environ.get("CORRAL_DEMO_HOME", DEMO_HOME))
    marker = home / ".corral-demo"
    if home.exists() and any(home.iterdir()) and not marker.exists():
        sys.exit(f"{home} exists and is not a demo home: set CORRAL_DEMO_HOME elsewhere")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    home.chmod(0o711)
    marker.touch()
    return home


if __name__ == "__main__":
    main()
