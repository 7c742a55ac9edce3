"""What a freshly forked worker does: confine itself, then load and serve the plugin.

Order matters and is the point of this module: file descriptors are wired,
every kernel layer is applied, the guard is installed, and only then is one
line of plugin code imported. A failure before serving is reported to the
host as a ``Ready`` carrying the error, so the host raises it as the right
``CorralError`` instead of seeing a dead worker.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from corral.errors import SandboxUnavailable
from corral.loading import load_entry
from corral.plugin import Plugin, _bind_worker
from corral.policy import Grant
from corral.policy.decision import Decision, Request
from corral.policy.plan import PEN_PROXY_PORT, EnforcementPlan
from corral.protocol import Event, Ready
from corral.sandbox.apply import confine
from corral.worker._netforward import Forwarder
from corral.worker._tunnel import Tunnel
from corral.worker.checks import make_check
from corral.worker.guard import Guard
from corral.worker.serve import CHANNEL_FD, Channel, error_info, serve

_PLAIN = (str, int, float, bool, type(None))
NET_FD = 4


@dataclass(frozen=True)
class ChildFds:
    """The descriptors the zygote received for this worker."""

    channel: int
    stdout: int
    stderr: int
    network: int = -1  # a restricted pen's dispenser (see corral.netproxy), else none


def run_child(spec: dict[str, Any], fds: ChildFds) -> NoReturn:
    """Become the worker described by ``spec``; never returns."""
    _wire(fds)
    channel = Channel(socket.socket(fileno=CHANNEL_FD))
    try:
        plan = EnforcementPlan.from_wire(spec["plan"])
        confine(plan, keep_fds=(CHANNEL_FD, NET_FD) if fds.network >= 0 else (CHANNEL_FD,))
        own_ports = _network(plan, fds)
        loaded = _load(spec, plan, channel, own_ports)
    except BaseException as exc:
        channel.send(Ready(id=0, error=error_info(exc)))
        os._exit(1)
    serve(channel, loaded)
    os._exit(0)


def _wire(fds: ChildFds) -> None:
    """Channel on fd 3, dispenser (if any) on 4, capture pipes on 1 and 2; stdin is /dev/null.

    Everything is first moved above fd 10, so no received descriptor that
    happens to sit on 0-4 is overwritten before it is placed.
    """
    sources = (os.open("/dev/null", os.O_RDONLY), fds.stdout, fds.stderr, fds.channel, fds.network)
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) if fd >= 0 else -1 for fd in sources]
    for fd in sources:
        if fd >= 0:
            os.close(fd)
    for source, target in zip(moved, (0, 1, 2, CHANNEL_FD, NET_FD), strict=True):
        if source >= 0:
            os.dup2(source, target)
            os.close(source)


def _network(plan: EnforcementPlan, fds: ChildFds) -> tuple[int, ...]:
    """At ``restricted``: start the forwarder and the socket wrappers; the plugin's own ports.

    Before the guard and the plugin: the forwarder binds its port while
    nothing else can hold it.
    """
    if plan.network != "restricted":
        return ()
    own = tuple(p for p in plan.tcp_bind_ports if p != PEN_PROXY_PORT)
    if fds.network < 0:
        raise SandboxUnavailable("netproxy", "a restricted worker was started without its proxy")
    Forwarder(socket.socket(fileno=NET_FD), PEN_PROXY_PORT).start()
    Tunnel(PEN_PROXY_PORT, own).install()
    return own


def _load(
    spec: dict[str, Any], plan: EnforcementPlan, channel: Channel, own_ports: tuple[int, ...]
) -> Any:
    sys.dont_write_bytecode = True
    grant = Grant.from_wire(spec["grant"]).with_roots(plan.plugin_dir, plan.work_dir)
    if plan.layer_on("guard"):
        check = make_check(
            grant,
            spec["baseline_read"],
            spec["baseline_write"],
            plan.plugin_dir,
            internal_network=plan.network == "internal",
            proxy_port=PEN_PROXY_PORT if plan.network == "restricted" else 0,
            own_ports=own_ports,
        )
        guard = Guard(
            check,
            _reporter(channel),
            manifest_file=spec.get("manifest_file", "plugin.yaml"),
            writable_roots=[*spec["baseline_write"], plan.work_dir],
        )
        guard.install()
    _bind_worker(grant, _action_reporter(channel))
    loaded = load_entry(spec["plugin"], plan.plugin_dir, spec["entry"])
    if isinstance(loaded.instance, Plugin):
        loaded.instance.setup()
    return loaded


def _action_reporter(channel: Channel) -> Any:
    """What ``corral.plugin.report`` sends: a plugin's own audit record, bounded."""

    def send(action: str, details: dict[str, Any]) -> None:
        plain = {str(k): v if isinstance(v, _PLAIN) else repr(v)[:500] for k, v in details.items()}
        decision = str(plain.pop("decision", "info"))
        plain["action"] = str(action)[:200]
        channel.send(Event(id=0, type="plugin.action", decision=decision, details=plain))

    return send


def _reporter(channel: Channel) -> Any:
    """The guard's callback: one audit event per denial or program started, sent at once."""

    def report(request: Request, decision: Decision, operation: str) -> None:
        channel.event(
            "denied" if not decision.allowed else "command.run",
            "deny" if not decision.allowed else "allow",
            domain=request.domain,
            action=request.action,
            target=request.target[:1024],
            permission=decision.rule,
            reason=decision.reason,
            operation=operation,
            layer="guard",
        )

    return report
