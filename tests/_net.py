"""Loopback servers that remember who reached them, for network attack tests.

Nothing here listens beyond the loopback range; a test judges a refusal by
what its server saw (nothing), not by the error the pen reported.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Web:
    """A real HTTP server on ``address``: ``connections`` counted, ``requests`` recorded."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        outer = self
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.requestline, dict(self.headers)))
                body = f"hello {self.path}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
            daemon_threads = True

            def verify_request(self, request: object, client_address: object) -> bool:
                outer.connections += 1
                return True

        self.server = Server((address, port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
