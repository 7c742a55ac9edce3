"""Loopback servers that remember who reached them, for network attack tests.

Nothing here listens beyond the loopback range; a test judges a refusal by
what its server saw (nothing), not by the error the pen reported. All
servers share one thread (a selector loop): the test process forks pens and
sandbox children, and every extra thread it ever ran leaves a glibc arena
behind in the address space they inherit.
"""

from __future__ import annotations

import selectors
import socket
import threading


class _Loop:
    """One selector thread serving every ``Web`` of the process."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._run, name="test-web", daemon=True)
        self.thread.start()

    def add(self, sock: socket.socket, handler: object) -> None:
        with self.lock:
            self.selector.register(sock, selectors.EVENT_READ, handler)
        self.wake_w.send(b"x")

    def remove(self, sock: socket.socket) -> None:
        with self.lock:
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
        self.wake_w.send(b"x")

    def _run(self) -> None:
        while True:
            with self.lock:
                pass  # let add/remove finish before selecting again
            for key, _ in self.selector.select():
                if key.data is None:
                    self.wake_r.recv(4096)
                else:
                    key.data(key.fileobj)


_LOOP: _Loop | None = None


def _loop() -> _Loop:
    global _LOOP
    if _LOOP is None:
        _LOOP = _Loop()
    return _LOOP


class Web:
    """A minimal HTTP/1.0 server on ``address``: ``connections`` counted, ``requests`` kept.

    Each request gets ``hello <path>`` and the connection is closed.
    """

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.server = socket.create_server((address, port), family=family)
        self.server.setblocking(False)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._pending: dict[socket.socket, bytes] = {}
        _loop().add(self.server, self._accept)

    def _accept(self, server: socket.socket) -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        self.connections += 1
        conn.setblocking(False)
        self._pending[conn] = b""
        _loop().selector.register(conn, selectors.EVENT_READ, self._read)

    def _read(self, conn: socket.socket) -> None:
        try:
            chunk = conn.recv(65536)
        except OSError:
            chunk = b""
        data = self._pending[conn] + chunk
        self._pending[conn] = data
        if chunk and b"\r\n\r\n" not in data:
            return
        _loop().selector.unregister(conn)
        del self._pending[conn]
        if b"\r\n\r\n" in data:
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
            self.requests.append((head[0], headers))
            path = head[0].split(" ")[1] if head[0].count(" ") >= 2 else "?"
            body = f"hello {path}".encode()
            reply = (
                f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body
            conn.setblocking(True)
            conn.settimeout(5)
            try:
                conn.sendall(reply)
            except OSError:
                pass
        conn.close()

    def close(self) -> None:
        _loop().remove(self.server)
        for conn in list(self._pending):
            _loop().remove(conn)
            conn.close()
        self._pending.clear()
        self.server.close()


class Datagrams:
    """A UDP socket on ``address``: ``seen()`` drains whatever arrived."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, port))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def seen(self) -> list[bytes]:
        got = []
        while True:
            try:
                got.append(self.sock.recv(65536))
            except BlockingIOError:
                return got

    def close(self) -> None:
        self.sock.close()
