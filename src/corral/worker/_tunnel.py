"""Ordinary sockets at network level ``restricted``: tunnelled through the forwarder.

Clients that read ``HTTP_PROXY`` find the proxy on their own; ``http.client``
and raw ``socket`` code do not. For those, the plugin's interpreter gets two
wrappers:

* ``socket.getaddrinfo`` answers a *name* with a placeholder address from
  198.18.0.0/15 (RFC 2544's benchmarking block, never routed on the internet)
  and remembers which name it stands for. The pen has no DNS to ask, and the
  proxy must see the name, not an address the pen made up: it resolves the
  name itself and judges the name and every answer.
* ``socket.socket.connect`` (and ``connect_ex``) on a TCP socket, unless it
  is aimed at the forwarder or one of the plugin's own listeners, first asks
  the guard (the same audit event a plain connect raises, with the name the
  plugin used), then connects to the forwarder and performs a SOCKS5 CONNECT
  to the name (or address). The proxy's refusal becomes ``PermissionDenied``.

These are conveniences, not the barrier: code that walks around them (ctypes,
another socket class) meets a namespace with no route and Landlock, which
allows TCP connect only to the forwarder's port; through the forwarder it
gets what the proxy allows and nothing else.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from corral.errors import PermissionDenied

PLACEHOLDERS = ipaddress.IPv4Network("198.18.0.0/15")
_SERVICES = {"http": 80, "https": 443}
_REPLIES = {
    1: "general failure",
    2: "not allowed by the grant (the host's audit log says why)",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    7: "command not supported",
    8: "address type not supported",
}
_ERRNOS = {3: errno.ENETUNREACH, 4: errno.EHOSTUNREACH, 5: errno.ECONNREFUSED}
HANDSHAKE_SECONDS = 30.0


class Tunnel:
    """The two wrappers and the placeholder table they share."""

    def __init__(self, port: int, own_ports: Iterable[int] = ()) -> None:
        self.port = port
        self.own_ports = frozenset(own_ports)
        self._names: dict[str, str] = {}
        self._numbers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._real_getaddrinfo: Callable[..., Any] = socket.getaddrinfo
        self._real_connect: Callable[[socket.socket, Any], None] = socket.socket.connect

    def install(self) -> None:
        tunnel = self

        def connect(sock: socket.socket, address: Any) -> None:
            tunnel.connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            try:
                tunnel.connect(sock, address)
            except PermissionDenied:
                raise
            except OSError as exc:
                return exc.errno or errno.ECONNREFUSED
            return 0

        socket.getaddrinfo = self.getaddrinfo
        socket.socket.connect = connect  # type: ignore[assignment,method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[assignment,method-assign]

    # --- names ------------------------------------------------------------------------

    def placeholder(self, name: str) -> str:
        """The stand-in address for ``name`` (stable for the worker's life)."""
        with self._lock:
            found = self._numbers.get(name)
            if found is None:
                index = len(self._numbers) + 1
                if index >= PLACEHOLDERS.num_addresses - 1:
                    raise socket.gaierror(socket.EAI_MEMORY, "too many names looked up")
                found = str(PLACEHOLDERS.network_address + index)
                self._numbers[name] = found
                self._names[found] = name
            return found

    def name_of(self, host: str) -> str:
        return self._names.get(host, host)

    def getaddrinfo(self, host: Any, port: Any, *args: int, **kwargs: int) -> list[tuple[Any, ...]]:
        """``socket.getaddrinfo``'s signature: (host, port, family, type, proto, flags)."""
        given = dict(zip(("family", "type", "proto", "flags"), args, strict=False)) | kwargs
        family, kind, proto, flags = (given.get(k, 0) for k in ("family", "type", "proto", "flags"))
        name = host.decode() if isinstance(host, bytes) else host
        if not name or _numeric(name):
            return list(self._real_getaddrinfo(host, port, family, kind, proto, flags))
        sys.audit("socket.getaddrinfo", host, port, family, kind, proto, flags)
        if family not in (0, socket.AF_INET):
            raise socket.gaierror(socket.EAI_FAMILY, f"{name}: the pen's placeholders are IPv4")
        number = _port(port)
        return [
            (
                socket.AF_INET,
                kind or socket.SOCK_STREAM,
                proto or socket.IPPROTO_TCP,
                "",
                (self.placeholder(name), number),
            )
        ]

    # --- connections ------------------------------------------------------------------

    def connect(self, sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
            self._real_connect(sock, address)
            return
        host, port = self.name_of(str(address[0])), int(address[1])
        if self._direct(host, port):
            self._real_connect(sock, address)
            return
        sys.audit("socket.connect", sock, (host, port))  # the guard, by the name the plugin used
        forwarder = ("127.0.0.1", self.port)
        if sock.family == socket.AF_INET6:
            forwarder = ("::ffff:127.0.0.1", self.port)
        timeout = sock.gettimeout()
        sock.settimeout(timeout or HANDSHAKE_SECONDS)
        try:
            self._real_connect(sock, forwarder)
            _socks_connect(sock, host, port)
        finally:
            sock.settimeout(timeout)

    def _direct(self, host: str, port: int) -> bool:
        """The forwarder itself, or the plugin's own listener on the pen's loopback."""
        try:
            loopback = ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
        except ValueError:
            return False
        mapped = host.startswith("::ffff:127.")
        return (loopback or mapped) and (port == self.port or port in self.own_ports)


def _numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _port(port: Any) -> int:
    if port is None:
        return 0
    text = port.decode() if isinstance(port, bytes) else str(port)
    if text.isdigit():
        return int(text)
    if text in _SERVICES:
        return _SERVICES[text]
    raise socket.gaierror(socket.EAI_SERVICE, f"service {text!r} unknown in the pen")


def _socks_connect(sock: socket.socket, host: str, port: int) -> None:
    """SOCKS5 CONNECT by name (the proxy resolves) or by address."""
    sock.sendall(b"\x05\x01\x00")
    if _recv(sock, 2) != b"\x05\x00":
        raise ConnectionRefusedError(errno.ECONNREFUSED, "the network proxy refused the greeting")
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        address = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:
        encoded = host.encode("idna")
        address = b"\x03" + bytes((len(encoded),)) + encoded
    sock.sendall(b"\x05\x01\x00" + address + struct.pack("!H", port))
    reply = _recv(sock, 10)
    code = reply[1] if len(reply) > 1 else 1
    if code == 0:
        return
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    message = f"connect({target!r}) refused by corral's network proxy: {_REPLIES.get(code, code)}"
    if code == 2:
        raise PermissionDenied(message, operation="socket.connect", target=target, layer="netproxy")
    raise OSError(_ERRNOS.get(code, errno.ECONNREFUSED), message)


def _recv(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data
