"""The guard's question, answered: the pen's baseline first, then the grant.

Ordinary code must just work in a pen (DESIGN.md, "What a pen allows with
no grant"): reading the interpreter, the stdlib and system libraries, and
writing the private /tmp. Those allowances are not permissions a plugin
asked for, so they are not in its grant; the worker adds them here.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from typing import Protocol

from corral.policy.decision import Decision, Request

_ALLOWED = Decision(True, "allowed in every pen", "baseline")
_LOOPBACK = Decision(True, "the pen's own loopback (network: internal)", "network:internal")
_FORWARDER = Decision(True, "the pen's forwarder to the filtering proxy", "network:restricted")
_OWN = Decision(True, "the plugin's own listener on the pen's loopback", "network:listen")


class Checker(Protocol):
    """Anything that decides a request (a ``Grant`` in practice)."""

    def check(self, request: Request) -> Decision: ...


def _roots(paths: Sequence[str]) -> tuple[str, ...]:
    return tuple(p.rstrip("/") + "/" for p in paths if p)


def is_loopback(target: str) -> bool:
    """Whether a ``host:port`` target names a loopback address (or localhost)."""
    host = target.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port(target: str) -> int:
    text = target.rsplit(":", 1)[-1]
    return int(text) if text.isdigit() else -1


def make_check(
    grant: Checker,
    baseline_read: Sequence[str],
    baseline_write: Sequence[str],
    plugin_dir: str = "",
    *,
    internal_network: bool = False,
    proxy_port: int = 0,
    own_ports: Sequence[int] = (),
) -> Callable[[Request], Decision]:
    """A check function for the guard: baseline allowances, else ask the grant.

    The plugin's own ``.py`` files are always readable (it must import itself);
    its other files need a ``file:read`` grant like any data. At network level
    ``internal`` the pen's own loopback is open: its namespace holds nothing else.
    At ``restricted`` (``proxy_port`` set) the forwarder on the pen's loopback
    is open (the proxy behind it decides), and so are the plugin's own
    listeners (``own_ports``, from ``network:listen`` grants).
    """
    read_roots = _roots([*baseline_read, *baseline_write])
    write_roots = _roots(baseline_write)
    code_root = _roots([plugin_dir]) if plugin_dir else ()

    def under(path: str, roots: tuple[str, ...]) -> bool:
        return (path + "/").startswith(roots)

    def check(request: Request) -> Decision:
        if request.domain == "file":
            roots = read_roots if request.action == "read" else write_roots
            if under(request.target, roots):
                return _ALLOWED
            own = request.action == "read" and under(request.target, code_root)
            code = request.target.endswith((".py", ".pyc"))  # .pyc: import's cache probe
            if own and (code or os.path.isdir(request.target)):
                return _ALLOWED
        if internal_network and request.domain == "network" and is_loopback(request.target):
            return _LOOPBACK
        if proxy_port and request.domain == "network" and request.action == "connect":
            port = _port(request.target)
            if port == proxy_port and is_loopback(request.target):
                return _FORWARDER
            if port in own_ports and is_loopback(request.target):
                return _OWN
        return grant.check(request)

    return check
