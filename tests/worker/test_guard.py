"""The guard, attacked for real.

An audit hook cannot be removed (PEP 578), so every test installs the guard
in a forked child, with a grant written in the test, and performs the
operation for real. The verdict comes from outside the child: the file is
still there or was never created, the listener saw no connection, the
library is not in the child's memory map, the secret never came back.
Each ``test_deny_*`` has a ``test_allow_*`` twin showing the same operation
goes through when granted, so a deny test cannot pass merely because the
operation was broken.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import pathlib
import shutil
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox._forkrun import spawn

from corral.errors import PermissionDenied
from corral.policy.decision import Decision, Request
from corral.worker.guard import Guard

ECHO = os.path.realpath("/bin/echo")
SHELL = os.path.realpath("/bin/sh")
ENV = os.path.realpath("/usr/bin/env")
TOUCH = os.path.realpath("/usr/bin/touch")
BASELINE_READ = tuple(
    {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values(), "/usr/", "/lib/"}
)
"""What the worker's check allows with no grant (the interpreter, the libraries)."""


def grant(*patterns: str) -> Callable[[Request], Decision]:
    """A check like the worker's: baseline reads, then fnmatch over ``domain:action=target``."""

    def check(request: Request) -> Decision:
        rule = f"{request.domain}:{request.action}={request.target}"
        baseline = request.domain == "file" and request.action == "read"
        if baseline and request.target.startswith(BASELINE_READ):
            return Decision(True, "baseline", "baseline")
        allowed = any(fnmatchcase(rule, pattern) for pattern in patterns)
        return Decision(allowed, "granted" if allowed else "not granted", rule)

    return check


@dataclass(frozen=True)
class Seen:
    """What happened in the child, as it reported it (the tests judge effects themselves)."""

    value: Any = None
    error: str | None = None
    message: str = ""
    permission: str = ""
    operation: str = ""
    target: str = ""
    layer: str = ""
    permission_error: bool = False
    denials: list[list[str]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # programs the guard let start
    requests: list[str] = field(default_factory=list)
    inspected: Any = None


INSTALLED: list[Guard] = []
"""In the child: the guard ``guarded`` installed, for actions that poke at it."""


def guarded(
    action: Callable[[], Any],
    *allow: str,
    check: Callable[[Request], Decision] | None = None,
    on_denial: Callable[[Request, Decision, str], None] | None = None,
    roots: tuple[str, ...] = (),
    manifest: str = "plugin.yaml",
    inspect: Callable[[int], Any] | None = None,
) -> Seen:
    """Run ``action`` in a forked child under a guard granting ``allow``.

    ``inspect(pid)`` runs in the test while the child waits after the action,
    for verdicts only the live child's ``/proc`` can give.
    """

    def child(chan: Any) -> None:
        report: dict[str, Any] = {"denials": [], "started": [], "requests": []}
        decide = check or grant(*allow)

        def recording(request: Request) -> Decision:
            report["requests"].append(f"{request.domain}:{request.action}={request.target}")
            return decide(request)

        def denied(request: Request, decision: Decision, operation: str) -> None:
            if decision.allowed:  # a program started: reported for seed 004's "commands run"
                report["started"].append(str(request))
                return
            report["denials"].append([str(request), decision.rule, operation])
            if on_denial is not None:
                on_denial(request, decision, operation)

        guard = Guard(recording, denied, manifest_file=manifest, writable_roots=roots)
        guard.install()
        INSTALLED.append(guard)
        try:
            report["value"] = action()
        except Exception as exc:
            report.update(error=type(exc).__name__, message=str(exc))
            report["permission_error"] = isinstance(exc, PermissionError)
            for name in ("permission", "operation", "target", "layer"):
                report[name] = getattr(exc, name, "")
        chan.send(report)
        chan.recv()

    with spawn(child) as running:
        try:
            report = running.chan.recv()
        except EOFError:
            pytest.fail(f"the child died: {running.finish().error}")
        report["inspected"] = inspect(running.pid) if inspect else None
        running.chan.send("done")
        outcome = running.finish()
    assert outcome.exit_code == 0, outcome.error
    return Seen(**report)


def assert_denied(seen: Seen, rule: str) -> None:
    assert seen.error == "PermissionDenied", seen
    assert seen.permission == rule
    assert seen.layer == "guard"


# --- files: read ---------------------------------------------------------------

READS = {
    "open": lambda p: open(p).read(),
    "os.open": lambda p: os.read(os.open(p, os.O_RDONLY), 100).decode(),
    "pathlib": lambda p: pathlib.Path(p).read_text(),
}


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "secret.txt"
    path.write_text("s3cret")
    return path


@pytest.mark.parametrize("how", READS)
def test_deny_file_read(secret: Path, how: str) -> None:
    seen = guarded(lambda: READS[how](secret))
    assert_denied(seen, f"file:read={secret}")
    assert seen.value is None  # the content never left the child


@pytest.mark.parametrize("how", READS)
def test_allow_file_read(secret: Path, how: str) -> None:
    assert guarded(lambda: READS[how](secret), f"file:read={secret}").value == "s3cret"


# --- files: write, append --------------------------------------------------------

WRITES = {
    "open-w": lambda p: open(p, "w").write("new"),
    "open-a": lambda p: open(p, "a").write("new"),
    "open-r+": lambda p: open(p, "r+").write("new"),
    "os.open": lambda p: os.write(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND), b"new"),
    "pathlib": lambda p: pathlib.Path(p).write_text("new"),
}


@pytest.fixture
def existing(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "notes.txt"
    path.write_text("old")
    return path


@pytest.mark.parametrize("how", WRITES)
def test_deny_file_write(existing: Path, how: str) -> None:
    seen = guarded(lambda: WRITES[how](existing))
    assert_denied(seen, f"file:write={existing}")
    assert existing.read_text() == "old"


@pytest.mark.parametrize("how", WRITES)
def test_allow_file_write(existing: Path, how: str) -> None:
    seen = guarded(lambda: WRITES[how](existing), f"file:write={existing}")
    assert seen.error is None
    assert "new" in existing.read_text()


def test_deny_file_create(tmp_path: Path) -> None:
    target = Path(os.path.realpath(tmp_path)) / "created.txt"
    assert_denied(guarded(lambda: target.write_text("x")), f"file:write={target}")
    assert not target.exists()


def test_allow_file_create(tmp_path: Path) -> None:
    target = Path(os.path.realpath(tmp_path)) / "created.txt"
    guarded(lambda: target.write_text("x"), f"file:write={target}")
    assert target.read_text() == "x"


# --- files: listing -------------------------------------------------------------

LISTINGS = {
    "listdir": lambda d: sorted(os.listdir(d)),
    "scandir": lambda d: sorted(e.name for e in os.scandir(d)),
}


@pytest.mark.parametrize("how", LISTINGS)
def test_deny_listing(secret: Path, how: str) -> None:
    seen = guarded(lambda: LISTINGS[how](secret.parent))
    assert_denied(seen, f"file:read={secret.parent}")
    assert seen.value is None


@pytest.mark.parametrize("how", LISTINGS)
def test_allow_listing(secret: Path, how: str) -> None:
    seen = guarded(lambda: LISTINGS[how](secret.parent), f"file:read={secret.parent}")
    assert seen.value == ["secret.txt"]


# --- files: delete, rename, mkdir, rmtree, dir_fd ---------------------------------


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """A directory with one file and one subtree: ``area/f`` and ``area/tree/leaf``."""
    root = Path(os.path.realpath(tmp_path)) / "area"
    (root / "tree").mkdir(parents=True)
    (root / "f").write_text("f")
    (root / "tree" / "leaf").write_text("leaf")
    return root


def test_deny_remove(area: Path) -> None:
    assert_denied(guarded(lambda: os.remove(area / "f")), f"file:delete={area}/f")
    assert (area / "f").exists()


def test_allow_remove(area: Path) -> None:
    guarded(lambda: os.remove(area / "f"), f"file:delete={area}/f")
    assert not (area / "f").exists()


def test_deny_rename(area: Path) -> None:
    assert_denied(guarded(lambda: os.rename(area / "f", area / "g")), f"file:delete={area}/f")
    assert (area / "f").exists()
    assert not (area / "g").exists()


def test_deny_rename_into_a_place_not_granted(area: Path) -> None:
    seen = guarded(lambda: os.replace(area / "f", area / "g"), f"file:*={area}/f")
    assert_denied(seen, f"file:write={area}/g")
    assert not (area / "g").exists()


def test_allow_rename(area: Path) -> None:
    guarded(lambda: os.rename(area / "f", area / "g"), f"file:*={area}/*")
    assert (area / "g").read_text() == "f"


def test_deny_mkdir(area: Path) -> None:
    assert_denied(guarded(lambda: os.mkdir(area / "new")), f"file:write={area}/new")
    assert not (area / "new").exists()


def test_allow_mkdir(area: Path) -> None:
    guarded(lambda: os.mkdir(area / "new"), f"file:write={area}/new")
    assert (area / "new").is_dir()


def test_deny_rmtree(area: Path) -> None:
    seen = guarded(lambda: shutil.rmtree(area / "tree"), f"file:read={area}/*")
    assert_denied(seen, f"file:delete={area}/tree")
    assert (area / "tree" / "leaf").exists()


def test_deny_rmtree_stops_at_the_first_file_not_granted(area: Path) -> None:
    """rmtree deletes through dir_fd; the guard places each name via /proc/self/fd."""
    seen = guarded(lambda: shutil.rmtree(area / "tree"), f"file:*={area}/tree")
    assert_denied(seen, f"file:delete={area}/tree/leaf")
    assert (area / "tree" / "leaf").exists()


def test_allow_rmtree(area: Path) -> None:
    guarded(lambda: shutil.rmtree(area / "tree"), f"file:*={area}/tree*")
    assert not (area / "tree").exists()


def remove_via_dir_fd(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    os.remove("leaf", dir_fd=fd)


def test_deny_remove_relative_to_a_dir_fd(area: Path) -> None:
    seen = guarded(lambda: remove_via_dir_fd(area / "tree"), f"file:read={area}/*")
    assert_denied(seen, f"file:delete={area}/tree/leaf")
    assert (area / "tree" / "leaf").exists()


def test_allow_remove_relative_to_a_dir_fd(area: Path) -> None:
    guarded(lambda: remove_via_dir_fd(area / "tree"), f"file:*={area}/*")
    assert not (area / "tree" / "leaf").exists()


# --- files: links planted in a writable root ----------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = Path(os.path.realpath(tmp_path)) / "work"
    path.mkdir()
    (path / "data.txt").write_text("mine")
    return path


def read_through_link(link: Path, target: Path | str, opened: Path | str) -> str:
    os.symlink(target, link)
    return open(opened).read()


def test_deny_symlink_in_a_writable_root_is_judged_by_its_target(work: Path, secret: Path) -> None:
    link = work / "innocent.txt"
    seen = guarded(
        lambda: read_through_link(link, secret, link), f"file:*={work}/*", roots=(str(work),)
    )
    assert_denied(seen, f"file:read={secret}")
    assert seen.value is None


def test_deny_dotdot_after_a_planted_link(work: Path, secret: Path) -> None:
    """``work/l/../secret.txt`` is ``secret.txt`` next to l's target, not ``work/secret.txt``."""
    inner = secret.parent / "inner"
    inner.mkdir()
    link = work / "l"
    seen = guarded(
        lambda: read_through_link(link, inner, f"{link}/../secret.txt"),
        f"file:*={work}/*",
        roots=(str(work),),
    )
    assert_denied(seen, f"file:read={secret}")
    assert seen.value is None


def test_allow_symlink_in_a_writable_root_to_a_granted_file(work: Path) -> None:
    link = work / "alias.txt"
    seen = guarded(
        lambda: read_through_link(link, work / "data.txt", link),
        f"file:*={work}/*",
        roots=(str(work),),
    )
    assert seen.value == "mine"


# --- network ------------------------------------------------------------------------


@pytest.fixture
def listener() -> Any:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def saw_connection(server: socket.socket) -> bool:
    """Whether a connection is waiting; loopback completes the handshake inside connect()."""
    server.setblocking(False)
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def connect(address: Any, family: int = socket.AF_INET) -> None:
    with socket.socket(family) as sock:
        sock.connect(address)


def test_deny_socket_connect(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    seen = guarded(lambda: connect(("127.0.0.1", port)))
    assert_denied(seen, f"network:connect=127.0.0.1:{port}")
    assert not saw_connection(listener)


def test_allow_socket_connect(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    guarded(lambda: connect(("127.0.0.1", port)), f"network:connect=127.0.0.1:{port}")
    assert saw_connection(listener)


def http_connect(port: int) -> None:
    http.client.HTTPConnection("localhost", port, timeout=5).connect()


def test_deny_http_client_is_checked_by_the_name_the_plugin_used(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    seen = guarded(lambda: http_connect(port))
    assert_denied(seen, f"network:connect=localhost:{port}")
    assert "'localhost:" in seen.message
    assert not saw_connection(listener)


def test_allow_http_client_by_name(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    allow = (f"network:connect=localhost:{port}", f"network:connect=127.0.0.1:{port}")
    assert guarded(lambda: http_connect(port), *allow).error is None
    assert saw_connection(listener)


def test_deny_connection_by_name_at_its_lookup(listener: socket.socket) -> None:
    """The lookup is the first event of every client, so the denial names the host used."""
    port = listener.getsockname()[1]
    seen = guarded(lambda: socket.create_connection(("localhost", port), timeout=2))
    assert_denied(seen, f"network:connect=localhost:{port}")
    assert not saw_connection(listener)


def test_allow_lookups_that_are_not_connections() -> None:
    assert guarded(lambda: socket.getaddrinfo("localhost", None)).error is None
    assert guarded(lambda: socket.getaddrinfo("localhost", "http")).error is None


@pytest.fixture
def abstract_listener() -> Any:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(f"\0corral-guard-test-{uuid.uuid4().hex}")
    sock.listen(8)
    yield sock
    sock.close()


def test_deny_abstract_unix_socket(abstract_listener: socket.socket) -> None:
    name = abstract_listener.getsockname().decode()
    seen = guarded(lambda: connect(name, socket.AF_UNIX))
    assert_denied(seen, f"network:connect=unix:@{name[1:]}")
    assert not saw_connection(abstract_listener)


def test_allow_abstract_unix_socket(abstract_listener: socket.socket) -> None:
    name = abstract_listener.getsockname().decode()
    guarded(lambda: connect(name, socket.AF_UNIX), f"network:connect=unix:@{name[1:]}")
    assert saw_connection(abstract_listener)


@pytest.fixture
def udp() -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def send_datagram(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"ping", ("127.0.0.1", port))


def test_deny_udp_sendto(udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    assert_denied(guarded(lambda: send_datagram(port)), f"network:connect=127.0.0.1:{port}")
    with pytest.raises(BlockingIOError):
        udp.recv(16)


def test_allow_udp_sendto(udp: socket.socket) -> None:
    port = udp.getsockname()[1]
    guarded(lambda: send_datagram(port), f"network:connect=127.0.0.1:{port}")
    assert udp.recv(16) == b"ping"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


KEPT: list[socket.socket] = []


def serve_on(port: int) -> bool:
    server = socket.socket()
    KEPT.append(server)  # kept open while the test looks from outside
    server.bind(("127.0.0.1", port))
    server.listen(8)
    return True


def can_connect(port: int) -> bool:
    try:
        connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return False
    return True


def test_deny_bind_is_checked_as_listen() -> None:
    port = free_port()
    seen = guarded(lambda: serve_on(port), inspect=lambda pid: can_connect(port))
    assert_denied(seen, f"network:listen=127.0.0.1:{port}")
    assert seen.inspected is False


def test_allow_bind_and_listen() -> None:
    port = free_port()
    seen = guarded(
        lambda: serve_on(port),
        f"network:listen=127.0.0.1:{port}",
        inspect=lambda pid: can_connect(port),
    )
    assert seen.inspected is True


def test_deny_ipv6_targets_are_bracketed() -> None:
    """Called directly: ``handle`` is the hook body, no install (and no fork) needed."""
    guard = Guard(grant(), lambda *_: None)
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(PermissionDenied) as denied:
        guard.handle("socket.connect", (sock, ("::1", 80, 0, 0)))
    assert denied.value.permission == "network:connect=[::1]:80"


# --- processes ------------------------------------------------------------------------


def test_deny_subprocess_of_a_binary_not_granted(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    seen = guarded(lambda: subprocess.run(["touch", str(marker)]).returncode)
    assert_denied(seen, f"subprocess:execute={TOUCH}")
    assert not marker.exists()


def echo_both_spellings() -> list[str]:
    return [subprocess.run([cmd, "hi"], capture_output=True, text=True).stdout
            for cmd in ("echo", "/bin/echo")]


def test_allow_subprocess_by_name_and_by_path_resolve_to_one_target() -> None:
    seen = guarded(echo_both_spellings, f"subprocess:execute={ECHO}")
    assert seen.value == ["hi\n", "hi\n"]
    assert [r for r in seen.requests if r.startswith("subprocess")] == [
        f"subprocess:execute={ECHO}"
    ] * 2


def test_deny_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    assert_denied(guarded(lambda: os.system(f"touch {marker}")), f"subprocess:execute={SHELL}")
    assert not marker.exists()


def test_allow_os_system(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    assert guarded(lambda: os.system(f"touch {marker}"), f"subprocess:execute={SHELL}").value == 0
    assert marker.exists()


INJECTED = {"PATH": "/usr/bin", "KEEP": "1", "LD_PRELOAD": "/nowhere.so", "PYTHONPATH": "/x"}


def child_environment() -> list[str]:
    run = subprocess.run([ENV], env=dict(INJECTED), capture_output=True, text=True)
    return sorted(run.stdout.split())


def test_allow_popen_runs_with_loader_variables_stripped() -> None:
    seen = guarded(child_environment, f"subprocess:execute={ENV}")
    assert seen.error is None
    assert seen.value == ["KEEP=1", "PATH=/usr/bin"]  # printed by the child itself
    assert [d[0] for d in seen.denials] == ["env:write LD_PRELOAD", "env:write PYTHONPATH"]
    assert seen.started == [f"subprocess:execute {ENV}"]  # reported as a command run


def spawn_touch(marker: Path, env: dict[str, str]) -> int:
    pid = os.posix_spawn(TOUCH, ["touch", str(marker)], env)
    return os.waitpid(pid, 0)[1]


def test_deny_posix_spawn_with_a_loader_variable(tmp_path: Path) -> None:
    """posix_spawn copied its env before the hook ran: stripping cannot work, so refuse."""
    marker = tmp_path / "ran"
    seen = guarded(
        lambda: spawn_touch(marker, {"LD_PRELOAD": "/nowhere.so"}), f"subprocess:execute={TOUCH}"
    )
    assert seen.error == "PermissionDenied"
    assert seen.target == "LD_PRELOAD"
    assert not marker.exists()


def test_allow_posix_spawn_with_a_clean_env(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    seen = guarded(lambda: spawn_touch(marker, {"KEEP": "1"}), f"subprocess:execute={TOUCH}")
    assert seen.value == 0
    assert marker.exists()


# --- env --------------------------------------------------------------------------------


def putenv_then_look() -> list[str]:
    try:
        os.putenv("CORRAL_PROBE", "1")
    except PermissionError:
        pass
    return subprocess.run([ENV], capture_output=True, text=True).stdout.split()


def test_deny_putenv() -> None:
    seen = guarded(putenv_then_look, f"subprocess:execute={ENV}")
    assert seen.denials[0][:2] == ["env:write CORRAL_PROBE", "env:write=CORRAL_PROBE"]
    assert "CORRAL_PROBE=1" not in seen.value  # a child of the child does not see it


def test_allow_putenv() -> None:
    seen = guarded(putenv_then_look, f"subprocess:execute={ENV}", "env:write=CORRAL_PROBE")
    assert "CORRAL_PROBE=1" in seen.value


# --- native code and SQLite ------------------------------------------------------------


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A real shared library at a path of the test's choosing (a copy of libm)."""
    copy = Path(os.path.realpath(tmp_path)) / "libcorralprobe.so"
    shutil.copyfile(os.path.realpath("/lib/x86_64-linux-gnu/libm.so.6"), copy)
    return copy


def mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_deny_ctypes_dlopen_of_a_path(library: Path) -> None:
    seen = guarded(lambda: bool(ctypes.CDLL(str(library))), inspect=mapped)
    assert_denied(seen, f"file:read={library}")
    assert str(library) not in seen.inspected


def test_allow_ctypes_dlopen_of_a_granted_path(library: Path) -> None:
    seen = guarded(lambda: bool(ctypes.CDLL(str(library))), f"file:read={library}", inspect=mapped)
    assert str(library) in seen.inspected


def test_allow_ctypes_dlopen_of_a_bare_library_name() -> None:
    assert guarded(lambda: bool(ctypes.CDLL("libm.so.6"))).value is True


def make_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("create table t (x)")


def test_deny_sqlite_outside_the_grant(tmp_path: Path) -> None:
    path = Path(os.path.realpath(tmp_path)) / "data.db"
    assert_denied(guarded(lambda: make_database(path)), f"file:write={path}")
    assert not path.exists()


def test_allow_sqlite_inside_the_grant(tmp_path: Path) -> None:
    path = Path(os.path.realpath(tmp_path)) / "data.db"
    guarded(lambda: make_database(path), f"file:write={path}")
    assert path.stat().st_size > 0


def test_allow_sqlite_in_memory() -> None:
    assert guarded(lambda: make_database(":memory:")).error is None  # type: ignore[arg-type]


def test_deny_sqlite_uri_outside_the_grant(tmp_path: Path) -> None:
    path = Path(os.path.realpath(tmp_path)) / "data.db"
    seen = guarded(lambda: sqlite3.connect(f"file:{path}?mode=rwc", uri=True).close(),
                   f"file:write={os.getcwd()}/file:*")  # the literal spelling is not enough
    assert_denied(seen, f"file:write={path}")
    assert not path.exists()


def test_allow_sqlite_uri_inside_the_grant(tmp_path: Path) -> None:
    path = Path(os.path.realpath(tmp_path)) / "data.db"
    seen = guarded(lambda: sqlite3.connect(f"file:{path}?mode=rwc", uri=True).close(),
                   f"file:write={os.getcwd()}/file:*", f"file:write={path}")
    assert seen.error is None
    assert path.exists()


# --- spellings ------------------------------------------------------------------------


class Liar(str):
    """A path that claims, to Python code, to start with anything and equal everything."""

    def startswith(self, *_: Any) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


def test_deny_a_str_subclass_cannot_lie_about_its_path(secret: Path) -> None:
    seen = guarded(lambda: open(Liar(str(secret))).read(), roots=("/nonexistent",))
    assert_denied(seen, f"file:read={secret}")
    assert seen.value is None


def test_deny_relative_bytes_and_pathlike_spellings_are_judged_absolute(secret: Path) -> None:
    def spellings() -> list[str]:
        os.chdir(secret.parent)
        found = []
        for spelling in (b"secret.txt", "./secret.txt", pathlib.PurePath("secret.txt")):
            try:
                open(spelling).read()
            except PermissionDenied as denied:
                found.append(denied.permission)
        return found

    assert guarded(spellings).value == [f"file:read={secret}"] * 3


# --- the error itself -------------------------------------------------------------------


def test_deny_error_names_the_permission_and_the_manifest(secret: Path) -> None:
    seen = guarded(lambda: open(secret).read())
    rule = f"file:read={secret}"
    assert (seen.error, seen.permission_error) == ("PermissionDenied", True)
    assert (seen.permission, seen.operation, seen.target) == (rule, "open", str(secret))
    assert f"needs {rule}" in seen.message
    assert "plugin.yaml" in seen.message
    assert seen.denials == [[f"file:read {secret}", rule, "open"]]


def test_deny_error_names_the_manifest_file_in_use(secret: Path) -> None:
    assert "plugin.json" in guarded(lambda: open(secret).read(), manifest="plugin.json").message


def test_deny_survives_a_failing_reporter(existing: Path) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("channel gone")

    seen = guarded(lambda: open(existing, "w"), on_denial=broken)
    assert_denied(seen, f"file:write={existing}")
    assert existing.read_text() == "old"


# --- failing closed, and not recursing --------------------------------------------------


def test_deny_when_check_raises(existing: Path) -> None:
    def check(request: Request) -> Decision:
        if request.action == "write":
            raise RuntimeError("grant table corrupted")
        return grant()(request)

    seen = guarded(lambda: open(existing, "w"), check=check)
    assert seen.error == "PermissionDenied"
    assert "could not check" in seen.message and "grant table corrupted" in seen.message
    assert existing.read_text() == "old"


def test_deny_an_argument_the_guard_cannot_read() -> None:
    guard = Guard(grant("*"), lambda *_: None)
    with pytest.raises(PermissionDenied, match="could not check"):
        guard.handle("open", (object(), "r", 0))


def test_allow_events_raised_by_check_itself_pass_through(tmp_path: Path, secret: Path) -> None:
    """check() opening a file raises "open" inside the hook; it must not recurse."""
    log = tmp_path / "check.log"
    inner = grant(f"file:read={secret}")

    def check(request: Request) -> Decision:
        with open(log, "a") as out:  # an event the guard would deny, were it checked
            out.write(f"{request}\n")
        return inner(request)

    seen = guarded(lambda: open(secret).read(), check=check)
    assert seen.value == "s3cret"
    assert log.read_text() == f"file:read {secret}\n"


def test_allow_install_twice_checks_each_event_once(secret: Path) -> None:
    def again() -> str:
        INSTALLED[-1].install()
        return open(secret).read()

    seen = guarded(again, f"file:read={secret}")
    assert seen.value == "s3cret"
    assert seen.requests.count(f"file:read={secret}") == 1
