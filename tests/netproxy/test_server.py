"""The proxy over real sockets: SOCKS5, HTTP CONNECT and plain HTTP to loopback listeners.

Each refusal is judged at the listener (it saw no connection) and in the
audit events (a ``network.connect`` deny naming the permission to add).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from corral.netproxy import NetProxy, mapping_resolver
from tests.netproxy.conftest import (
    NAMES,
    grant,
    recv_all,
    recv_exactly,
    socks_connect,
    stream,
)


def _door(proxy, *scopes, limit=16, denies=()):
    return proxy.dispenser(
        proxy.door("netty", grant(*scopes, denies=denies), max_connections=limit)
    )


def test_socks5_reaches_the_granted_listener_and_counts_bytes(proxy, listener, events):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    with stream(dispenser) as s:
        assert socks_connect(s, "127.0.0.1", listener.port) == 0
        s.sendall(b"hello")
        assert recv_exactly(s, 10) == b"echo:hello"
    (event,) = events.wait(1)
    assert event["kind"] == "network.connect" and event["decision"] == "allow"
    assert (event["host"], event["port"], event["address"]) == (
        "127.0.0.1",
        listener.port,
        "127.0.0.1",
    )
    assert (event["bytes_out"], event["bytes_in"]) == (5, 10)
    dispenser.close()


@pytest.mark.parametrize(
    ("host", "why"),
    [("127.0.0.1", "other port"), ("127.0.0.2", "other address"), ("::1", "ipv6 loopback")],
)
def test_socks5_refuses_what_is_not_granted(proxy, listener, other, events, host, why):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    port = (
        listener.port + 1
        if why == "other port"
        else other.port
        if host == "127.0.0.2"
        else listener.port
    )
    with stream(dispenser) as s:
        assert socks_connect(s, host, port) == 2  # "connection not allowed by ruleset"
        assert recv_all(s) == b""
    (event,) = events.wait(1)
    assert event["decision"] == "deny" and event["bytes_in"] == event["bytes_out"] == 0
    assert event["permission"].startswith("network:connect=")
    assert listener.seen == other.seen == []


def test_socks5_refuses_a_cidr_outside_the_grant(proxy, listener, other, events):
    dispenser = _door(proxy, f"127.0.0.0/31:{other.port}", f"127.0.0.0/31:{listener.port}")
    with stream(dispenser) as s:
        assert socks_connect(s, "127.0.0.2", other.port) == 2
    with stream(dispenser) as s:
        assert socks_connect(s, "127.0.0.1", listener.port) == 0
        s.sendall(b"in")
        assert recv_exactly(s, 7) == b"echo:in"
    assert other.seen == [] and listener.seen == [b"in"]


def test_socks5_refuses_a_granted_name_that_resolves_to_loopback(proxy, listener, events):
    dispenser = _door(proxy, f"rebound.test:{listener.port}")
    with stream(dispenser) as s:
        assert socks_connect(s, "rebound.test", listener.port) == 2
    (event,) = events.wait(1)
    assert event["address"] == "127.0.0.1"
    assert event["permission"] == f"network:connect=127.0.0.1:{listener.port}"
    assert listener.seen == []


def test_socks5_resolves_a_granted_name_itself(proxy, listener):
    dispenser = _door(proxy, f"granted.test:{listener.port}", f"127.0.0.1:{listener.port}")
    with stream(dispenser) as s:
        assert socks_connect(s, "granted.test", listener.port) == 0
        s.sendall(b"by name")
        assert recv_exactly(s, 12) == b"echo:by name"


def test_socks5_refuses_udp_associate_and_bind(proxy, listener, events):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    for command in (2, 3):
        with stream(dispenser) as s:
            assert socks_connect(s, "127.0.0.1", listener.port, command) == 7
    assert [e["decision"] for e in events.wait(2)] == ["deny", "deny"]
    assert listener.seen == []


def test_http_connect_tunnels_to_the_granted_listener(proxy, listener):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    with stream(dispenser) as s:
        s.sendall(f"CONNECT 127.0.0.1:{listener.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert recv_exactly(s, 39) == b"HTTP/1.1 200 Connection established\r\n\r\n"
        s.sendall(b"tunnelled")
        assert recv_exactly(s, 14) == b"echo:tunnelled"


def test_http_connect_refusal_says_which_permission(proxy, listener, events):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    with stream(dispenser) as s:
        s.sendall(f"CONNECT 127.0.0.1:{listener.port + 1} HTTP/1.1\r\n\r\n".encode())
        reply = recv_all(s)
    assert reply.startswith(b"HTTP/1.1 403")
    assert f"X-Corral-Permission: network:connect=127.0.0.1:{listener.port + 1}".encode() in reply
    assert events.wait(1)[0]["decision"] == "deny"


@pytest.fixture
def web():
    """A real HTTP server on 127.0.0.1 that records the request lines and headers it got."""
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            got.append((self.requestline, dict(self.headers)))
            body = b"hello from the web"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], got
    server.shutdown()
    server.server_close()


def test_plain_http_is_forwarded_in_origin_form(proxy, web, events):
    port, got = web
    dispenser = _door(proxy, f"127.0.0.1:{port}")
    with stream(dispenser) as s:
        s.sendall(
            f"GET http://127.0.0.1:{port}/x?y=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Proxy-Connection: keep-alive\r\n\r\n".encode()
        )
        reply = recv_all(s)
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"hello from the web")
    ((line, headers),) = got
    assert line == "GET /x?y=1 HTTP/1.1"
    assert "Proxy-Connection" not in headers and headers["Connection"] == "close"
    (event,) = events.wait(1)
    assert event["protocol"] == "http" and event["bytes_in"] == len(reply)


def test_the_connection_limit_holds(proxy, listener, events):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}", limit=2)
    held = [stream(dispenser) for _ in range(2)]
    for s in held:
        assert socks_connect(s, "127.0.0.1", listener.port) == 0
    with stream(dispenser) as third:
        assert socks_connect(third, "127.0.0.1", listener.port) == 2
    refusal = events.wait(1)[0]
    assert "limit" in refusal["reason"] and refusal["decision"] == "deny"
    held.pop().close()
    events.wait(2)
    with stream(dispenser) as again:
        assert socks_connect(again, "127.0.0.1", listener.port) == 0
    for s in held:
        s.close()


def test_a_dead_worker_takes_its_connections_with_it(proxy, listener):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    s = stream(dispenser)
    assert socks_connect(s, "127.0.0.1", listener.port) == 0
    s.sendall(b"x")
    assert recv_exactly(s, 6) == b"echo:x"
    dispenser.close()  # the worker's end: what its death does
    assert recv_all(s) == b""
    s.close()


def _fds():
    """This process's open descriptors and what they are (the listing's own fd left out)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except FileNotFoundError:
            pass
    return found


def test_closing_the_proxy_leaks_no_descriptors(listener, events):
    before = _fds()
    proxy = NetProxy(events, resolver=mapping_resolver(NAMES))
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}")
    s = stream(dispenser)
    assert socks_connect(s, "127.0.0.1", listener.port) == 0
    proxy.close()
    assert recv_all(s) == b""
    s.close()
    dispenser.close()
    deadline = time.monotonic() + 5
    while listener.open and time.monotonic() < deadline:  # the listener's own end, closing
        time.sleep(0.01)
    assert _fds() <= before
    assert not any(t.name == "corral-netproxy" for t in threading.enumerate())


def test_an_exhausted_dispenser_says_no_instead_of_a_stream(proxy, listener):
    dispenser = _door(proxy, f"127.0.0.1:{listener.port}", limit=1)
    held = [stream(dispenser) for _ in range(9)]
    dispenser.send(b"o")
    answer, fds, _, _ = socket.recv_fds(dispenser, 16, 1)
    assert (answer, fds) == (b"n", [])
    for s in held:
        s.close()
