"""Network scopes: ``host:port`` patterns and the concrete targets they match.

A pattern's host is a name (``api.weather.gov``), a subdomain wildcard
(``*.weather.com``: any name strictly beneath it, never the bare domain and
never ``evil-weather.com``), an address (``10.0.0.5``, ``[::1]``), a CIDR block
(``10.0.0.0/8``, ``[fd00::/8]``) or ``*``. Its port is a number, a range
(``1000-2000``) or ``*``.

Private, loopback and link-local addresses, and ``localhost``, are reachable
only through a pattern that names them by address (or the exact name
``localhost``): ``*`` never reaches them. Names that a resolver would read as
numbers (``2130706433``, ``0x7f000001``) are refused outright, because they
are how an allowlist of names is smuggled past to 127.0.0.1.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class Target:
    """A concrete ``host:port`` a plugin wants to reach, already normalised."""

    host: str
    ip: IPAddress | None
    port: int

    @property
    def private(self) -> bool:
        """Reachable only when granted by address: not a public internet address."""
        return _local(self.host) if self.ip is None else not self.ip.is_global


@dataclass(frozen=True)
class Pattern:
    """A compiled network scope; ``kind`` is any, suffix, name, ip or cidr."""

    kind: str
    host: str
    network: IPNetwork | None
    low: int
    high: int

    @property
    def wildcard(self) -> bool:
        """Whether this pattern names more than one host or port."""
        return self.kind in ("any", "suffix", "cidr") or self.low != self.high

    def matches(self, target: Target) -> bool:
        if not self.low <= target.port <= self.high:
            return False
        if target.ip is not None:
            if self.network is not None:
                return target.ip in self.network
            return self.kind == "any" and not target.private
        if self.kind == "name":
            return target.host == self.host
        if self.kind == "suffix":
            return target.host.endswith("." + self.host)
        return self.kind == "any" and not target.private

    def covers(self, other: Pattern) -> bool:
        """Whether every target ``other`` matches is matched by this pattern too."""
        if not (self.low <= other.low and other.high <= self.high):
            return False
        if self.kind == "any":
            return other.kind == "any" or (
                other.kind in ("name", "suffix") and not _local(other.host)
            )
        if self.network is not None and other.network is not None:
            return _subnet(other.network, self.network)
        if self.kind == "suffix" and other.kind in ("name", "suffix"):
            return other.host.endswith("." + self.host) or (
                other.kind == "suffix" and other.host == self.host
            )
        return self.kind == other.kind == "name" and self.host == other.host


def _local(name: str) -> bool:
    return name == "localhost" or name.endswith(".localhost")


def _subnet(inner: IPNetwork, outer: IPNetwork) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def _split(text: str) -> tuple[str, str]:
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: expected [address]:port")
        return host, port
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} needs host:port, e.g. api.example.com:443")
    return host, port


def _ports(text: str) -> tuple[int, int]:
    if text == "*":
        return 1, 65535
    low, _, high = text.partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        raise ValueError(f"port {text!r} must be a number, a range like 1000-2000, or *")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"port {text!r} must lie within 1-65535 with low <= high")
    return lo, hi


def _address(host: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _name(host: str) -> str:
    name = host.lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{host!r} is not a valid host name")
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        raise ValueError(f"{host!r} looks like a number; write addresses in dotted form")
    return name


def parse_pattern(text: str) -> Pattern:
    """Compile a ``host:port`` scope; ``ValueError`` explains a malformed one."""
    host, port = _split(text)
    low, high = _ports(port)
    if host == "*":
        return Pattern("any", "*", None, low, high)
    if host.startswith("*."):
        return Pattern("suffix", _name(host[2:]), None, low, high)
    if "/" in host:
        try:
            net = ipaddress.ip_network(host, strict=True)
        except ValueError as exc:
            raise ValueError(f"{host!r} is not a CIDR block: {exc}") from None
        return Pattern("cidr", str(net), net, low, high)
    ip = _address(host)
    if ip is not None:
        return Pattern("ip", str(ip), ipaddress.ip_network(ip), low, high)
    return Pattern("name", _name(host), None, low, high)


def canonical(text: str) -> str:
    """The canonical spelling of a ``host:port`` scope (lower case, IPv6 bracketed)."""
    pattern = parse_pattern(text)
    host = "*." + pattern.host if pattern.kind == "suffix" else pattern.host
    if ":" in host:
        host = f"[{host}]"
    if (pattern.low, pattern.high) == (1, 65535):
        port = "*"
    elif pattern.low == pattern.high:
        port = str(pattern.low)
    else:
        port = f"{pattern.low}-{pattern.high}"
    return f"{host}:{port}"


@functools.lru_cache(maxsize=4096)
def parse_target(text: str) -> Target | None:
    """A concrete ``host:port`` request, or None when it is not one (cached: a pure parse)."""
    try:
        host, port = _split(text)
        ip = _address(host)
        name = str(ip) if ip is not None else _name(host)
    except ValueError:
        return None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return None
    return Target(name, ip, int(port))
