"""Where a connection may go: the grant asked about the name and every address.

The pen has no DNS; the proxy resolves names itself, so the decision and the
connection use the same answer. A name the grant allows is not enough: each
address it resolves to is judged as well, and an address inside an internal
range (loopback, private, link-local, cloud metadata, and anything else that
is not a global address) passes only when a grant names it by address or
CIDR. That is what stops DNS rebinding: ``api.example.com`` granted by name
but answering ``127.0.0.1`` or ``169.254.169.254`` is refused. The proxy then
connects to the addresses it checked and never resolves again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from corral.policy.decision import Decision, Request
from corral.policy.hosts import IPAddress, parse_target

Resolver = Callable[[str], Sequence[str]]
"""A name -> its addresses (text); tests pass a fixed mapping, the host uses DNS."""

INTERNAL_RANGES = tuple(
    ipaddress.ip_network(block)
    for block in (
        "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
        "::1/128", "fc00::/7", "fe80::/10",
    )
)  # fmt: skip
"""The ranges the issue names; ``internal()`` also refuses every other non-global address."""


class Grantish(Protocol):
    """What the proxy needs of a grant (``corral.policy.Grant`` in practice)."""

    def check(self, request: Request) -> Decision: ...


@dataclass(frozen=True)
class Verdict:
    """The proxy's answer for one ``host:port``: where to connect, or why not."""

    allowed: bool
    host: str
    port: int
    addresses: tuple[str, ...] = ()
    reason: str = ""
    permission: str = ""

    @property
    def address(self) -> str:
        """The first checked address (what the audit record names)."""
        return self.addresses[0] if self.addresses else ""


def system_resolver(name: str) -> Sequence[str]:
    """The host's resolver (getaddrinfo), TCP answers only, in its order, deduplicated."""
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def mapping_resolver(table: dict[str, Sequence[str]]) -> Resolver:
    """A resolver answering from ``table`` only (an /etc/hosts of the caller's own)."""

    def resolve(name: str) -> Sequence[str]:
        try:
            return table[name]
        except KeyError:
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: unknown name") from None

    return resolve


def internal(ip: IPAddress) -> bool:
    """Whether ``ip`` lies in a range reachable only when granted by address."""
    return not ip.is_global or any(ip in block for block in INTERNAL_RANGES)


def host_port(host: str, port: int) -> str:
    """``host:port`` as the policy spells it (IPv6 bracketed)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def decide(grant: Grantish, host: str, port: int, resolver: Resolver) -> Verdict:
    """Judge ``host:port`` by name, then every address it resolves to."""
    target = host_port(host, port)
    decision = grant.check(Request("network", "connect", target))
    if not decision.allowed:
        return _refused(host, port, decision)
    parsed = parse_target(target)
    if parsed is None:
        return Verdict(False, host, port, reason=f"{target!r} is not a host:port")
    if parsed.ip is not None:
        return Verdict(True, host, port, (str(parsed.ip),))
    try:
        found = [_address(a) for a in resolver(parsed.host)]
    except (OSError, UnicodeError, ValueError) as exc:
        return Verdict(False, host, port, reason=f"cannot resolve {parsed.host!r}: {exc}")
    if not found:
        return Verdict(False, host, port, reason=f"{parsed.host!r} resolves to no address")
    for ip in found:
        by_address = grant.check(Request("network", "connect", host_port(str(ip), port)))
        if by_address.allowed:
            continue
        if not by_address.rule:  # a deny: it wins whatever the name says
            return _refused(host, port, by_address, (str(ip),))
        if internal(ip):
            return Verdict(
                False,
                host,
                port,
                (str(ip),),
                reason=f"{parsed.host} resolves to {ip}, an internal address, reachable "
                "only when granted by address",
                permission=f"network:connect={host_port(str(ip), port)}",
            )
    return Verdict(True, host, port, tuple(str(ip) for ip in found))


def _address(text: str) -> IPAddress:
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _refused(host: str, port: int, decision: Decision, addresses: tuple[str, ...] = ()) -> Verdict:
    return Verdict(False, host, port, addresses, decision.reason, decision.rule)
