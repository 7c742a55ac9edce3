"""The pen's forwarder, outside a pen: a real proxy behind it and a real listener beyond.

It is plumbing, so what matters is that it carries bytes faithfully both
ways, large transfers included, and that it relays only what the proxy lets
through (it makes no decision of its own).
"""

from __future__ import annotations

import socket
import threading

import pytest
from tests.netproxy.conftest import Events, grant, recv_all, recv_exactly, socks_connect

from corral.netproxy import NetProxy, mapping_resolver
from corral.worker._netforward import Forwarder

BIG = 3 * 1024 * 1024 + 17


@pytest.fixture
def sink():
    """A listener that reads everything, then sends it back reversed in byte order per chunk."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        try:
            conn, _ = server.accept()
        except OSError:  # woken at teardown: no connection came
            return
        with conn:
            data = recv_all(conn)
            conn.sendall(data[::-1])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept() when no connection came
    server.close()
    thread.join(5)


@pytest.fixture
def events():
    return Events()


@pytest.fixture
def forwarder(events, sink):
    proxy = NetProxy(events, resolver=mapping_resolver({}))
    door = proxy.door("netty", grant(f"127.0.0.1:{sink}"), max_connections=4)
    forward = Forwarder(proxy.dispenser(door), 0)
    forward.start()
    yield forward.port
    forward.close()
    proxy.close()


def test_a_large_transfer_arrives_whole_both_ways(forwarder, sink, events):
    payload = bytes(range(256)) * (BIG // 256) + b"tail"
    with socket.create_connection(("127.0.0.1", forwarder), timeout=10) as s:
        assert socks_connect(s, "127.0.0.1", sink) == 0
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == payload[::-1]
    (event,) = events.wait(1)
    assert event["bytes_out"] == event["bytes_in"] == len(payload)


def test_it_carries_the_proxys_refusal_and_nothing_more(forwarder, sink):
    with socket.create_connection(("127.0.0.1", forwarder), timeout=10) as s:
        assert socks_connect(s, "127.0.0.1", sink + 1 if sink < 65535 else sink - 1) == 2
        assert recv_exactly(s, 1) == b""
