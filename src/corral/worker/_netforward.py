"""The pen's forwarder: a listener on the pen's own loopback that relays to the host's proxy.

Ordinary clients need a TCP address for ``HTTP_PROXY``; the pen has no route
to the host, only the dispenser socket it was born with (fd 4). The forwarder
listens on ``127.0.0.1:PEN_PROXY_PORT`` inside the pen's network namespace
and, for each connection accepted, asks the dispenser for a fresh stream to
the proxy and copies bytes both ways. It decides nothing: it is plumbing in
the plugin's own process, which the plugin could disturb only to lose its
own network. The proxy on the host decides.

One thread, non-blocking sockets and bounded buffers: a thread per
direction would spend the pen's process limit (threads count), and a
blocking write could stall every other connection behind one slow reader.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

CHUNK = 64 * 1024
HIGH_WATER = 256 * 1024
DISPENSE_SECONDS = 10.0


class _End:
    """One side of a relayed connection: what is waiting to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.peer: _End = self
        self.out = bytearray()
        self.eof = False  # it will send us nothing more
        self.shut = False  # we told it we will send nothing more
        self.mask = 0


class Forwarder:
    """Accept on the pen's loopback, relay each connection through a dispensed stream."""

    def __init__(self, dispenser: socket.socket, port: int) -> None:
        self._dispenser = dispenser
        self._dispenser.settimeout(DISPENSE_SECONDS)
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", port))
        self._server.listen(64)
        self._server.setblocking(False)
        self.port: int = self._server.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "stop")
        self._thread = threading.Thread(target=self._run, name="corral-netforward", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop relaying and close everything (a pen never needs it; its death does it)."""
        self._wake_w.send(b"x")
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            for key, events in self._selector.select():
                if key.data is None:
                    self._accept()
                elif key.data == "stop":
                    self._stop()
                    return
                else:
                    self._step(key.data, events)

    def _stop(self) -> None:
        for key in list(self._selector.get_map().values()):
            if isinstance(key.data, _End):
                self._drop(key.data)
        for sock in (self._server, self._wake_r, self._wake_w, self._dispenser):
            sock.close()
        self._selector.close()

    def _accept(self) -> None:
        try:
            conn, _ = self._server.accept()
        except OSError:
            return
        upstream = self._fetch()
        if upstream is None:
            conn.close()
            return
        near, far = _End(conn), _End(upstream)
        near.peer, far.peer = far, near
        for end in (near, far):
            end.sock.setblocking(False)
            self._watch(end)

    def _fetch(self) -> socket.socket | None:
        """A fresh stream to the proxy, or None when the host will not give one."""
        try:
            self._dispenser.send(b"o")
            answer, fds, _, _ = socket.recv_fds(self._dispenser, 16, 1)
        except OSError:
            return None
        if answer != b"o" or len(fds) != 1:
            for fd in fds:
                with contextlib.suppress(OSError):
                    socket.close(fd)
            return None
        return socket.socket(fileno=fds[0])

    def _step(self, end: _End, events: int) -> None:
        try:
            if events & selectors.EVENT_READ:
                data = end.sock.recv(CHUNK)
                if data:
                    end.peer.out += data
                else:
                    end.eof = True
            if events & selectors.EVENT_WRITE and end.out:
                sent = end.sock.send(end.out)
                del end.out[:sent]
            for side in (end, end.peer):
                if side.peer.eof and not side.out and not side.shut:
                    side.sock.shutdown(socket.SHUT_WR)
                    side.shut = True
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(end)
            return
        if end.eof and end.shut and end.peer.eof and end.peer.shut:
            self._drop(end)
            return
        self._watch(end)
        self._watch(end.peer)

    def _watch(self, end: _End) -> None:
        """Read while the other side's backlog is small; write while we have something."""
        mask = 0
        if not end.eof and len(end.peer.out) < HIGH_WATER:
            mask |= selectors.EVENT_READ
        if end.out:
            mask |= selectors.EVENT_WRITE
        if mask == end.mask:
            return
        if end.mask and mask:
            self._selector.modify(end.sock, mask, end)
        elif mask:
            self._selector.register(end.sock, mask, end)
        else:
            self._selector.unregister(end.sock)
        end.mask = mask

    def _drop(self, end: _End) -> None:
        for side in (end, end.peer):
            if side.mask:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(side.sock)
                side.mask = 0
            side.sock.close()
