"""Network level ``restricted`` by attack: real pens, real loopback servers, the real proxy.

The plugin is granted three things: ``127.0.0.1:A`` (a web server), the
name ``localhost:B`` (a second server on 127.0.0.1, not granted by address)
and the block ``127.0.0.0/31:C`` (a server on 127.0.0.2, outside the block).
It reaches the first through plain sockets, urllib and http.client without
knowing there is a proxy, and nothing else however it tries. Each refusal is
judged at the server (it saw no connection) and in the audit log; with the
guard switched off (``GUARD`` false in a sabotage run, and the explicit
guard-off test below) the effects must not change: the proxy is the barrier.

Every test runs against both walls (the ``backend`` fixture): a kernel pen,
and a container on a real engine with network mode ``none`` whose one way out
is the same proxy's dispenser, handed in over its IPC socket.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import corral
from corral.policy import AdminPolicy
from corral.trust import Keyring, ReviewStore, keys
from tests._net import Datagrams, Web
from tests.conftest import SABOTAGE
from tests.trust._crafted import entry_for, sign

pytestmark = pytest.mark.pen
GUARD = SABOTAGE in (frozenset(), frozenset({"guard"}))
GET = "GET /{} HTTP/1.0\r\nHost: x\r\n\r\n"
LISTEN_PORT = 4567  # declared in the fixture's manifest; each pen has its own loopback


@pytest.fixture(params=["kernel", "container"])
def backend(request):
    """The pen's network and the container's, attacked the same way."""
    return request.param


@pytest.fixture
def new_host(home, audit, backend, request):
    """``corral.Host`` on this test's backend; keyword arguments as ``Host`` takes them."""
    options = {}
    if backend == "container":
        options = {
            "isolation": "container",
            "container": request.getfixturevalue("container_engine"),
        }

    def make(**kwargs):
        return corral.Host(home=home, audit=audit, **options, **kwargs)

    return make


@pytest.fixture
def servers():
    """web (granted), other (127.0.0.1, granted only as localhost), far (127.0.0.2), v6 (::1)."""
    made = {"web": Web("127.0.0.1"), "other": Web("127.0.0.1")}
    made["near"] = Web("127.0.0.2", made["web"].port)  # the granted port, another address
    made["far"] = Web("127.0.0.2")
    try:
        made["v6"] = Web("::1", made["web"].port)
    except OSError:
        made["v6"] = Web("::1")
    yield made
    for server in made.values():
        server.close()


def _policy(servers, *extra):
    """The admin lets this one plugin keep its CIDR grant (community would drop it)."""
    cidr = f"network:connect=127.0.0.0/31:{servers['far'].port}"
    rule = {"grant": [cidr, *extra]}
    return AdminPolicy.model_validate({"plugins": {"restricted-network": rule}})


def _copy(plugin_copy, servers):
    ports = {"PORTA": servers["web"].port, "PORTB": servers["other"].port}
    ports["PORTC"] = servers["far"].port
    return plugin_copy("fixtures/restricted_network", {k: str(v) for k, v in ports.items()})


@pytest.fixture
def net(new_host, plugin_copy, servers):
    with new_host(policy=_policy(servers), unsafe_disable_layers=SABOTAGE) as h:
        yield h.load(_copy(plugin_copy, servers))


def _proxy_events(audit, decision, wait_for=1):
    """The proxy's events; an allowed connection's is written when it closes, so wait a little."""
    deadline = time.monotonic() + 5
    while True:
        found = [
            e
            for e in audit.query(plugin="restricted-network", kind="network.connect")
            if e.decision == decision
        ]
        if len(found) >= wait_for or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def _guard_denied(audit, permission):
    return [
        e
        for e in audit.query(plugin="restricted-network", kind="denied")
        if e.details.get("permission") == permission
    ]


# --- the granted way, three clients ------------------------------------------------------


def test_allow_a_plain_socket_to_the_granted_host_port(net, servers, audit):
    web = servers["web"]
    reply = net.call("raw", "127.0.0.1", web.port, GET.format("raw"))
    assert reply.startswith("HTTP/1.0 200") and reply.endswith("hello /raw")
    assert [r[0] for r in web.requests] == ["GET /raw HTTP/1.0"]
    (event,) = _proxy_events(audit, "allow")
    assert event.source == "host"
    assert (event.details["host"], event.details["port"]) == ("127.0.0.1", web.port)
    assert event.details["address"] == "127.0.0.1"
    assert event.details["bytes_out"] == len(GET.format("raw"))
    assert event.details["bytes_in"] == len(reply)


def test_allow_urllib_through_the_proxy_variables(net, servers, audit):
    web = servers["web"]
    status, body = net.call("urllib_get", f"http://127.0.0.1:{web.port}/via-urllib")
    assert (status, body) == (200, "hello /via-urllib")
    ((line, headers),) = web.requests
    assert line == "GET /via-urllib HTTP/1.1"  # origin form: the proxy rewrote it
    assert "Proxy-Connection" not in headers
    (event,) = _proxy_events(audit, "allow")
    assert event.details["protocol"] == "http" and event.details["bytes_in"] > 0


def test_allow_http_client_through_the_socket_wrappers(net, servers, audit):
    web = servers["web"]
    assert net.call("http_client_get", "127.0.0.1", web.port, "/hc") == [200, "hello /hc"]
    assert [r[0] for r in web.requests] == ["GET /hc HTTP/1.1"]
    (event,) = _proxy_events(audit, "allow")
    assert event.details["protocol"] == "socks5"


# --- refused, however it is asked ----------------------------------------------------------

REFUSALS = {
    # case: (server that must see nothing, host the pen asks for, port of which server)
    "other port": ("other", "127.0.0.1", "other"),
    "other address": ("near", "127.0.0.2", "web"),
    "cidr outside the grant": ("far", "127.0.0.2", "far"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_deny_what_the_grant_does_not_name(net, servers, audit, case):
    seen_by, host, port_of = REFUSALS[case]
    port = servers[port_of].port
    with pytest.raises(corral.CorralError) as info:
        net.call("raw", host, port, GET.format("x"))
    assert servers[seen_by].connections == 0
    assert not _proxy_events(audit, "allow", wait_for=0)
    if GUARD:
        assert isinstance(info.value, corral.PermissionDenied)
        assert info.value.permission == f"network:connect={host}:{port}"
        assert _guard_denied(audit, f"network:connect={host}:{port}")
    else:  # the wrappers still carry it to the proxy, which refuses and records it
        (event,) = _proxy_events(audit, "deny")
        assert event.details["permission"] == f"network:connect={host}:{port}"
        assert event.details["bytes_in"] == event.details["bytes_out"] == 0


def test_deny_a_granted_name_that_resolves_to_an_address_not_granted(net, servers, audit):
    """``localhost:B`` is granted by name; the proxy resolves it to 127.0.0.1, not granted."""
    other = servers["other"]
    with pytest.raises(corral.PermissionDenied) as info:
        net.call("raw", "localhost", other.port, GET.format("rebound"))
    assert other.connections == 0
    assert "network proxy" in str(info.value)
    (event,) = _proxy_events(audit, "deny")
    assert event.details["host"] == "localhost"
    assert event.details["address"] in ("127.0.0.1", "::1")
    assert event.details["permission"].startswith("network:connect=")
    assert event.details["bytes_in"] == event.details["bytes_out"] == 0


def test_deny_ipv6_loopback(net, servers, audit):
    v6 = servers["v6"]
    with pytest.raises(corral.CorralError) as info:
        net.call("raw_v6", "::1", v6.port)
    assert v6.connections == 0
    if GUARD:
        assert info.value.permission == f"network:connect=[::1]:{v6.port}"


def test_deny_a_ctypes_connect_even_to_the_granted_port(net, servers):
    """Past the guard and the wrappers: no route, and Landlock allows only the forwarder's port."""
    web = servers["web"]
    with pytest.raises(corral.CorralError):
        net.call("ctypes_connect", "127.0.0.1", web.port, GET.format("ctypes"))
    assert web.connections == 0


def test_deny_a_hand_made_socks_request_through_the_forwarder(net, servers, audit):
    """The forwarder carries anything; the proxy behind it still decides."""
    other, web = servers["other"], servers["web"]
    code, _ = net.call("ctypes_socks", "127.0.0.1", other.port, GET.format("socks"))
    assert code == 2  # SOCKS5 "connection not allowed by ruleset"
    assert other.connections == 0
    assert _proxy_events(audit, "deny")[0].details["port"] == other.port
    code, reply = net.call("ctypes_socks", "127.0.0.1", web.port, GET.format("socks"))
    assert code == 0 and reply.startswith("HTTP/1.0 200")


def test_deny_udp(net, servers, audit):
    """Seccomp refuses the datagram socket; without it the packet lands on the pen's own lo."""
    datagrams = Datagrams("127.0.0.1", servers["web"].port)
    try:
        try:
            net.call("udp", "127.0.0.1", datagrams.port)
        except corral.CorralError as exc:
            error = exc
        else:
            error = None
        assert datagrams.seen() == []
        if "seccomp" not in SABOTAGE:
            assert "Operation not permitted" in str(error)  # EPERM for socket(SOCK_DGRAM)
    finally:
        datagrams.close()


def test_the_connection_limit_holds(net, servers, audit):
    web = servers["web"]
    assert net.call("hold", "127.0.0.1", web.port, 3) == ["ok", "ok", "PermissionDenied"]
    deadline = time.monotonic() + 5  # the server's selector thread counts accepts on its own time
    while web.connections < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # and a third, had the limit failed, would have arrived by now
    assert web.connections == 2
    refused = _proxy_events(audit, "deny")
    assert refused and "limit" in refused[0].details["reason"]
    violations = audit.query(plugin="restricted-network", kind="violation")
    assert [v.details["type"] for v in violations] == ["network"]  # the proxy's refusal counts
    assert net.call("raw", "127.0.0.1", web.port, GET.format("after")).endswith("hello /after")


# --- inbound ------------------------------------------------------------------------------


def test_deny_listening_without_a_grant(net, audit):
    """The manifest asks for network:listen; community drops it, so bind is refused."""
    with pytest.raises(corral.CorralError) as info:
        net.call("listen_roundtrip", LISTEN_PORT)
    if GUARD:
        assert info.value.permission == f"network:listen=127.0.0.1:{LISTEN_PORT}"
        assert _guard_denied(audit, f"network:listen=127.0.0.1:{LISTEN_PORT}")


def test_allow_listening_on_the_pens_own_loopback_when_granted(
    new_host, audit, plugin_copy, servers
):
    listen = f"network:listen=127.0.0.1:{LISTEN_PORT}"
    policy = _policy(servers, listen)
    with new_host(policy=policy, unsafe_disable_layers=SABOTAGE) as h:
        net = h.load(_copy(plugin_copy, servers))
        assert listen in [str(p) for p in net.grant.permissions]
        assert net.call("listen_roundtrip", LISTEN_PORT) == "ping"
        with pytest.raises(OSError):  # the pen's loopback is its own: the host cannot reach it
            socket.create_connection(("127.0.0.1", LISTEN_PORT), timeout=1).close()


# --- the proxy is the barrier, not the guard ------------------------------------------------


def test_without_the_guard_the_proxy_still_refuses(new_host, audit, plugin_copy, servers):
    other = servers["other"]
    with new_host(policy=_policy(servers), unsafe_disable_layers={"guard"}) as host:
        net = host.load(_copy(plugin_copy, servers))
        with pytest.raises(corral.PermissionDenied) as info:
            net.call("raw", "127.0.0.1", other.port, GET.format("x"))
        assert "refused by corral's network proxy" in str(info.value)  # not by the guard
        assert net.call("raw", "127.0.0.1", servers["web"].port, GET.format("y")).endswith("/y")
    assert other.connections == 0
    (event,) = _proxy_events(audit, "deny")
    assert event.details["permission"] == f"network:connect=127.0.0.1:{other.port}"


def _fds():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except FileNotFoundError:
            pass  # the listing's own descriptor
    return found


def test_the_monitor_samples_what_the_proxy_counted(new_host, audit, plugin_copy, servers):
    with new_host(policy=_policy(servers)) as host:
        plugin = host.load(_copy(plugin_copy, servers))
        reply = plugin.call("raw", "127.0.0.1", servers["web"].port, GET.format("count"))
        deadline = time.monotonic() + 5  # the proxy counts bytes as the relay closes
        while host.network_usage("restricted-network").bytes_in == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (sample,) = host.monitor.tick()
    assert reply.endswith("hello /count")
    assert sample.net_bytes >= len(reply)


def test_closing_the_host_leaves_no_proxy_behind(new_host, audit, plugin_copy, servers):
    before = _fds()
    with new_host(policy=_policy(servers)) as host:
        net = host.load(_copy(plugin_copy, servers))
        net.call("raw", "127.0.0.1", servers["web"].port, GET.format("z"))
        usage = host.network_usage("restricted-network")
        assert isinstance(usage, corral.NetUsage)
        assert usage.connections == 1 and usage.bytes_in > 0
    (started,) = audit.query(plugin="restricted-network", kind="worker.started")
    assert started.details["network"] == "restricted"
    assert not any(t.name == "corral-netproxy" for t in threading.enumerate())
    assert _fds() <= before  # no dispenser, stream or upstream socket left open


def test_deny_restricted_network_without_the_network_namespace(
    new_host, audit, plugin_copy, servers
):
    with new_host(unsafe_disable_layers={"netns"}) as host:
        with pytest.raises(corral.SandboxUnavailable) as info:
            host.load(_copy(plugin_copy, servers))
    assert info.value.layer == "netns"


# --- full: the host's network, for the enterprise tier only -------------------------------

FULL_MANIFEST = """\
name: full-network
version: 1.0.0
entry: client
tier: enterprise
network: full
permissions:
  - network:connect=127.0.0.1:{port}
limits:
  call_timeout_seconds: 20
"""


def _full_plugin(plugin_copy, servers, *, signed_by=None):
    """The fixture's client code under an enterprise manifest asking for ``network: full``."""
    root = _copy(plugin_copy, servers)
    (root / "plugin.yaml").write_text(FULL_MANIFEST.format(port=servers["web"].port))
    if signed_by is not None:
        sign(root, signed_by)
    return root


def test_allow_full_network_to_a_verified_publishers_enterprise_plugin(
    new_host, home, audit, plugin_copy, servers
):
    key = keys.generate()
    Keyring(path=home / "keyring.toml").with_entry(entry_for(key, tier="enterprise")).save()
    ReviewStore(home / "corral.db").add(
        "full-network", "1.0.0", level="internal", notes="read it", reviewer="tests"
    )  # enterprise versions run once reviewed (seed 001)
    root = _full_plugin(plugin_copy, servers, signed_by=key)
    with new_host(unsafe_disable_layers=SABOTAGE) as host:
        plugin = host.load(root)
        assert plugin.grant.tier == "enterprise" and plugin.grant.network == "full"
        # the host's own network: a listener the grant does not name is reached too
        reply = plugin.call("raw", "127.0.0.1", servers["other"].port, GET.format("full"))
    assert reply.endswith("hello /full") and servers["other"].connections == 1
    assert not audit.query(kind="network.connect")  # no proxy in the way
    (started,) = audit.query(kind="worker.started")
    assert started.details["network"] == "full"  # audited at worker start


def test_deny_full_network_to_an_unsigned_plugin_asking_for_it(
    new_host, audit, plugin_copy, servers
):
    root = _full_plugin(plugin_copy, servers)  # unsigned: proves community at most
    with new_host(unsafe_disable_layers=SABOTAGE) as host:
        plugin = host.load(root)
        assert plugin.grant.tier == "community" and plugin.grant.network != "full"
        with pytest.raises(corral.CorralError):
            plugin.call("raw", "127.0.0.1", servers["other"].port, GET.format("no"))
    assert servers["other"].connections == 0
    (granted,) = audit.query(kind="grant")
    assert any("full" in str(note) or "tier" in str(note) for note in granted.details["notes"])
