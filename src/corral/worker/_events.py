"""CPython 3.11 audit events, read as the requests a grant must answer.

Each handler takes the event's argument tuple and returns the ``Request``s
that must all be allowed for the operation to go ahead; an empty tuple means
nothing is reached by name (an already open fd, an in-memory database). The
argument shapes were checked against 3.11.2 by hooking the real calls: for
example ``os.replace`` raises ``os.rename``, ``os.unlink`` raises
``os.remove``, ``os.ftruncate`` raises ``os.truncate`` with an fd, and
``os.spawn*`` on Linux is ``os.fork`` plus ``os.exec`` in the child.

A handler that meets an argument it cannot read raises, and the guard turns
that into a denial: guessing "probably harmless" is how a guard gets bypassed.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from corral.policy.decision import Request
from corral.worker import _processes
from corral.worker._paths import Paths, text

Handler = Callable[[Paths, tuple[Any, ...]], tuple[Request, ...]]

NOTHING: tuple[Request, ...] = ()
_WRITE_MODE = frozenset("wax+")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_READ_MODES = frozenset({None, "r", "rb", "rt"})
_CACHE_SIZE = 4096
_READS: dict[str, Request] = {}
_WRITES: dict[str, Request] = {}


# --- files ----------------------------------------------------------------------


def _open(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``open(path, mode, flags)``, also raised by every import (``io.open_code``).

    The hottest handler, hence the shortcuts: ``flags`` already says "write"
    for every ``io.open`` mode, so ``mode`` is read only when it is unusual;
    and requests are reused per spelling (see ``_remember``).
    """
    path, mode, flags = args
    write = flags & _WRITE_FLAGS or (mode not in _READ_MODES and not _WRITE_MODE.isdisjoint(mode))
    cache = _WRITES if write else _READS
    if type(path) is str:
        request = cache.get(path)
        if request is not None:
            return (request,)
    elif path is None or isinstance(path, int):
        return NOTHING  # an fd: checked when it was opened by name
    return (_remember(paths, cache, "write" if write else "read", path),)


def _remember(paths: Paths, cache: dict[str, Request], action: str, path: object) -> Request:
    """The request for ``path``, kept when its spelling alone decides the file.

    Building a frozen ``Request`` and normalising the path cost more than the
    rest of the hook, and the same files are opened again and again. Only
    exact ``str`` spellings that are already absolute, normal and outside the
    writable roots are kept: their meaning depends neither on the cwd nor on
    links the plugin could plant, so a kept answer cannot go stale.
    """
    target = paths.absolute(path)
    request = Request("file", action, target)
    if type(path) is str and paths.fixed(path, target):
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[path] = request
    return request


def _listing(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.listdir`` / ``os.scandir``: None is the cwd; an fd was checked when opened."""
    path = args[0]
    if isinstance(path, int):
        return NOTHING
    return (Request("file", "read", paths.absolute("." if path is None else path)),)


def _on(action: str, path_at: int, dir_fd_at: int | None) -> Handler:
    """A handler for events that touch one path, optionally relative to a dir_fd."""

    def handler(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
        path = args[path_at]
        if isinstance(path, int):
            return NOTHING  # an fd: it was checked when it was opened
        dir_fd = None if dir_fd_at is None else args[dir_fd_at]
        return (Request("file", action, paths.absolute(path, dir_fd)),)

    return handler


def _rename(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.rename`` and ``os.replace``: the source goes away, the destination changes."""
    src = paths.absolute(args[0], args[2])
    dst = paths.absolute(args[1], args[3])
    return (Request("file", "delete", src), Request("file", "write", src),
            Request("file", "write", dst))


def _link(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.link``: a hard link is the same inode, so writing through it writes the source.

    Hence write on both ends, not only on the new name; otherwise linking a
    read-only shipped file into the work dir would make it writable here.
    """
    src = paths.absolute(args[0], args[2])
    dst = paths.absolute(args[1], args[3])
    return (Request("file", "write", src), Request("file", "write", dst))


# --- network --------------------------------------------------------------------


def _host_port(host: object, port: object, family: int = socket.AF_INET) -> str:
    name = text(host) or ("::" if family == socket.AF_INET6 else "0.0.0.0")  # noqa: S104
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def _socket_request(paths: Paths, action: str, sock: Any, address: Any) -> Request:
    """The request behind one socket address, by the socket's family."""
    family = sock.family
    if family == socket.AF_UNIX:
        name = text(address)
        if name[:1] in ("\0", ""):  # abstract (or autobind): no file to check
            return Request("network", action, "unix:@" + name[1:])
        return Request("file", "write", paths.absolute(name))
    if family in (socket.AF_INET, socket.AF_INET6):
        return Request("network", action, _host_port(address[0], address[1], family))
    return Request("network", action, f"{_family_name(family)}:{address!r}")


def _family_name(family: int) -> str:
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"family{family}"


def _socket(action: str) -> Handler:
    def handler(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
        sock, address = args
        if address is None:  # sendmsg on a connected socket: connect was checked
            return NOTHING
        return (_socket_request(paths, action, sock, address),)

    return handler


def _http(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``http.client.connect(self, host, port)``: by name, before DNS, as the plugin wrote it."""
    return (Request("network", "connect", _host_port(args[1], args[2])),)


def _resolve(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``socket.getaddrinfo(host, port, ...)``: the first step of every ordinary client.

    Checked as a connect by the name the plugin used, so the denial names the
    grant to add even where the kernel refuses the socket itself (at network
    level ``none`` seccomp forbids inet sockets, so no connect event follows).
    A lookup without a host or a port is not a connection attempt.
    """
    host, port = args[0], args[1]
    if not host or port in (None, 0, "0", b"0"):
        return NOTHING
    try:
        number = int(port)
    except (TypeError, ValueError):
        return NOTHING  # a service name: the connect that follows is checked by number
    return (Request("network", "connect", _host_port(text(host), number)),)


# --- env, native code, SQLite ---------------------------------------------------


def _env(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.putenv(key, value)`` / ``os.unsetenv(key)`` (``os.environ`` writes end here)."""
    return (Request("env", "write", text(args[0])),)


def _dlopen(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``ctypes.dlopen(name)``: a bare library name comes from the system library path."""
    name = args[0]
    if name is None or "/" not in text(name):
        return NOTHING
    return (Request("file", "read", paths.absolute(name)),)


def _sqlite(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``sqlite3.connect(database)``: the only event before SQLite opens files in C.

    The event does not say whether ``uri=True`` was passed, so a ``file:``
    name is checked both as a URI and as the literal file name it would
    otherwise be.
    """
    name = text(args[0])
    if name in ("", ":memory:"):
        return NOTHING
    literal = Request("file", "write", paths.absolute(name))
    return (literal, *_sqlite_uri(paths, name)) if name.startswith("file:") else (literal,)


def _sqlite_uri(paths: Paths, name: str) -> tuple[Request, ...]:
    parts = urlsplit(name)
    path = unquote(parts.path)
    mode = parse_qs(parts.query).get("mode", [""])[-1]
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"SQLite URI with a remote authority: {name!r}")
    if mode == "memory" or path in ("", ":memory:"):
        return NOTHING
    return (Request("file", "read" if mode == "ro" else "write", paths.absolute(path)),)


HANDLERS: dict[str, Handler] = {
    "open": _open,
    "os.listdir": _listing,
    "os.scandir": _listing,
    "os.remove": _on("delete", 0, 1),
    "os.rmdir": _on("delete", 0, 1),
    "shutil.rmtree": _on("delete", 0, 1),
    "os.rename": _rename,
    "os.link": _link,
    "os.mkdir": _on("write", 0, 2),
    "os.symlink": _on("write", 1, 2),
    "os.truncate": _on("write", 0, None),
    "os.chmod": _on("write", 0, 2),
    "os.chown": _on("write", 0, 3),
    "os.utime": _on("write", 0, 3),
    "os.setxattr": _on("write", 0, None),
    "os.removexattr": _on("write", 0, None),
    "shutil.copyfile": _on("write", 1, None),
    "shutil.copytree": _on("write", 1, None),
    "shutil.move": _on("write", 1, None),
    "socket.connect": _socket("connect"),
    "socket.sendto": _socket("connect"),
    "socket.sendmsg": _socket("connect"),
    "socket.bind": _socket("listen"),
    "http.client.connect": _http,
    "socket.getaddrinfo": _resolve,
    "subprocess.Popen": _processes.popen,
    "os.system": _processes.system,
    "os.exec": _processes.exec_,
    "os.posix_spawn": _processes.posix_spawn,
    "os.spawn": _processes.spawn,
    "pty.spawn": _processes.pty_spawn,
    "os.putenv": _env,
    "os.unsetenv": _env,
    "ctypes.dlopen": _dlopen,
    "sqlite3.connect": _sqlite,
}
"""Event name -> handler; an event not here costs the hook one dict lookup."""
