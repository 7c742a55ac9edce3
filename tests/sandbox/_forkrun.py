"""Run an attack in a forked child and judge it from outside.

A kernel layer changes the process that applies it for good (namespaces, uid,
Landlock, seccomp), so each attack runs in its own fork. The child talks to the
test over one socket (JSON lines, so nothing the child sends can execute in the
test process); the test, outside the pen, checks what did or did not happen
and reads the exit status and rusage the kernel reports for the child.

Usage::

    def attack(chan: Channel) -> object:
        confine(plan, keep_fds=(chan.fileno(),))
        return os.getpid()          # sent as the outcome's value

    outcome = run(attack)
    assert outcome.value == 1

``spawn`` keeps the child alive so the test can look at it (``/proc/<pid>``)
before letting it finish: the child ``chan.send(...)``s and ``chan.recv()``s.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SAFETY_ALARM_SECONDS = 20
"""A child still running after this exits (SIGALRM), so a broken test fails, not hangs."""


class Channel:
    """One end of the test <-> child socket; JSON values, one per line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, value: Any) -> None:
        self.sock.sendall(json.dumps(value).encode() + b"\n")

    def recv(self) -> Any:
        """The next value, or raise EOFError when the other end is gone."""
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the other end closed the channel")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


@dataclass(frozen=True)
class Outcome:
    """How the child ended, as the kernel and the channel report it."""

    exit_code: int | None
    signal: int | None
    value: Any = None
    error: str = ""
    messages: tuple[Any, ...] = ()
    rusage: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.error


@dataclass
class Child:
    """A running child: its pid (in the test's pid namespace) and the test's end."""

    pid: int
    chan: Channel
    reaped: bool = False

    def finish(self) -> Outcome:
        """Read everything the child still sends, then reap it."""
        messages: list[Any] = []
        while True:
            try:
                messages.append(self.chan.recv())
            except (EOFError, ConnectionResetError):
                break
        _, status, rusage = os.wait4(self.pid, 0)
        self.reaped = True
        return _outcome(status, rusage, messages)

    def kill(self) -> None:
        if self.reaped:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _outcome(status: int, rusage: Any, messages: list[Any]) -> Outcome:
    final = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    value, error = final.get("__return__"), final.get("__raise__", "")
    if "__return__" in final or "__raise__" in final:
        messages = messages[:-1]
    return Outcome(
        exit_code=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        value=value,
        error=error,
        messages=tuple(messages),
        rusage=rusage,
    )


def _child_main(fn: Callable[[Channel], Any], sock: socket.socket) -> None:
    chan = Channel(sock)
    code = 0
    try:
        # A handler, not the default action: a pen's pid 1 ignores signals it has no handler for.
        signal.signal(signal.SIGALRM, lambda *_: os._exit(124))
        signal.alarm(SAFETY_ALARM_SECONDS)
        result = {"__return__": fn(chan)}
    except BaseException as exc:
        lines = traceback.format_exception_only(type(exc), exc)
        result, code = {"__raise__": "".join(lines).strip()}, 1
    try:
        chan.send(result)
    finally:
        os._exit(code)


@contextmanager
def spawn(fn: Callable[[Channel], Any]) -> Iterator[Child]:
    """Fork a child running ``fn(channel)``; always reaped (killed if still running)."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        _child_main(fn, theirs)
    theirs.close()
    ours.settimeout(SAFETY_ALARM_SECONDS + 5)  # a child that neither ends nor talks fails the test
    child = Child(pid, Channel(ours))
    try:
        yield child
    finally:
        ours.close()
        if not child.reaped:
            child.kill()
            os.waitpid(pid, 0)


def run(fn: Callable[[Channel], Any]) -> Outcome:
    """Run ``fn(channel)`` in a forked child to the end and say how it went."""
    with spawn(fn) as child:
        return child.finish()


def rusage_cpu_seconds(outcome: Outcome) -> float:
    """User + system CPU of the child and the descendants it reaped."""
    usage: resource.struct_rusage = outcome.rusage
    return float(usage.ru_utime + usage.ru_stime)


def write_act(path: str | os.PathLike[str], size: int = 5) -> Callable[[Channel], str]:
    """A child body that writes ``size`` bytes to ``path``: "written" or the errno name."""

    def act(_: Channel) -> str:
        try:
            with open(path, "wb") as handle:
                handle.write(b"x" * size)
        except OSError as exc:
            return errno.errorcode[exc.errno or 0]
        return "written"

    return act
