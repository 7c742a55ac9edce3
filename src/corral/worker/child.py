"""What a freshly forked worker does: confine itself, then load and serve the plugin.

Order matters and is the point of this module: file descriptors are wired,
every kernel layer is applied, the guard is installed, and only then is one
line of plugin code imported. A failure before serving is reported to the
host as a ``Ready`` carrying the error, so the host raises it as the right
``CorralError`` instead of seeing a dead worker.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from corral.loading import load_entry
from corral.plugin import Plugin, _bind_worker
from corral.policy import Grant
from corral.policy.decision import Decision, Request
from corral.policy.plan import EnforcementPlan
from corral.protocol import Event, Ready
from corral.sandbox.apply import confine
from corral.worker.checks import make_check
from corral.worker.guard import Guard
from corral.worker.serve import CHANNEL_FD, Channel, error_info, serve

_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class ChildFds:
    """The descriptors the zygote received for this worker."""

    channel: int
    stdout: int
    stderr: int


def run_child(spec: dict[str, Any], fds: ChildFds) -> NoReturn:
    """Become the worker described by ``spec``; never returns."""
    _wire(fds)
    channel = Channel(socket.socket(fileno=CHANNEL_FD))
    try:
        plan = EnforcementPlan.from_wire(spec["plan"])
        confine(plan, keep_fds=(CHANNEL_FD,))
        loaded = _load(spec, plan, channel)
    except BaseException as exc:
        channel.send(Ready(id=0, error=error_info(exc)))
        os._exit(1)
    serve(channel, loaded)
    os._exit(0)


def _wire(fds: ChildFds) -> None:
    """Put the channel on fd 3 and the capture pipes on 1 and 2; stdin is /dev/null."""
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds.stdout, 1)
    os.dup2(fds.stderr, 2)
    os.dup2(fds.channel, CHANNEL_FD)
    for fd in {null, fds.stdout, fds.stderr, fds.channel} - {0, 1, 2, CHANNEL_FD}:
        os.close(fd)


def _load(spec: dict[str, Any], plan: EnforcementPlan, channel: Channel) -> Any:
    sys.dont_write_bytecode = True
    grant = Grant.from_wire(spec["grant"]).with_roots(plan.plugin_dir, plan.work_dir)
    if plan.layer_on("guard"):
        check = make_check(
            grant,
            spec["baseline_read"],
            spec["baseline_write"],
            plan.plugin_dir,
            internal_network=plan.network == "internal",
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
    """The guard's denial callback: one audit event per denial, sent at once."""

    def report(request: Request, decision: Decision, operation: str) -> None:
        channel.event(
            "denied" if not decision.allowed else "allowed",
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
