"""Real loopback listeners and a real proxy; nothing here leaves 127.0.0.0/8."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from corral.netproxy import NetProxy, mapping_resolver
from corral.policy import Grant
from corral.policy.permission import Permission


class Listener:
    """A TCP server on ``address`` that answers each connection with ``echo:`` + what it got."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.server = socket.create_server((address, 0), family=family)
        self.port = self.server.getsockname()[1]
        self.address = address
        self.seen: list[bytes] = []
        self.open = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        self.open += 1
        with conn:
            data = conn.recv(65536)
            self.seen.append(data)
            if data:
                conn.sendall(b"echo:" + data)
            while conn.recv(65536):
                pass
        self.open -= 1

    def close(self) -> None:
        """Wake the accept() (close alone does not), then wait for the thread."""
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        self._thread.join(5)


@pytest.fixture
def listener():
    server = Listener("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def other():
    """A listener on a second loopback address, 127.0.0.2."""
    server = Listener("127.0.0.2")
    yield server
    server.close()


class Events(list):
    def __call__(self, kind, plugin, decision, **details):
        self.append({"kind": kind, "plugin": plugin, "decision": decision, **details})

    def wait(self, count: int, seconds: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self)


@pytest.fixture
def events():
    return Events()


NAMES = {
    "granted.test": ["127.0.0.1"],
    "rebound.test": ["127.0.0.1"],
    "public.test": ["93.184.216.34"],
}


@pytest.fixture
def proxy(events):
    p = NetProxy(events, resolver=mapping_resolver(NAMES), connect_seconds=2.0)
    yield p
    p.close()


def grant(*scopes: str, denies: tuple[str, ...] = ()) -> Grant:
    return Grant(
        plugin="netty",
        tier="enterprise",
        permissions=tuple(Permission.parse(f"network:connect={s}") for s in scopes),
        denies=tuple(Permission.parse(f"network:connect={s}") for s in denies),
        network="restricted",
    )


def stream(dispenser: socket.socket) -> socket.socket:
    """Ask the dispenser for a stream to the proxy, as the pen's forwarder does."""
    dispenser.send(b"o")
    answer, fds, _, _ = socket.recv_fds(dispenser, 16, 1)
    assert answer == b"o", answer
    sock = socket.socket(fileno=fds[0])
    sock.settimeout(5)
    return sock


def socks_connect(sock: socket.socket, host: str, port: int, command: int = 1) -> int:
    """A SOCKS5 handshake by name or address; returns the reply code."""
    sock.sendall(b"\x05\x01\x00")
    assert sock.recv(2) == b"\x05\x00"
    try:
        packed = socket.inet_pton(socket.AF_INET, host)
        address = b"\x01" + packed
    except OSError:
        try:
            address = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            address = b"\x03" + bytes([len(host)]) + host.encode()
    sock.sendall(b"\x05" + bytes([command]) + b"\x00" + address + struct.pack("!H", port))
    reply = recv_exactly(sock, 10)
    return reply[1]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data
