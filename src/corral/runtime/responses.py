"""Automatic responses: a violation is recorded, counted, and answered as policy says.

Every violation becomes one "violation" audit event and, when a rule of the
plugin's ladder applies, one "response" event saying what was done and
whether it could be done (a throttle without a cpu cgroup cannot, and says
so rather than pretending). A violation seen during a call is answered after
the worker has given its answer and before the call returns or raises: killing
a worker from inside its own channel loop would turn a denial into a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.errors import SandboxUnavailable
from corral.policy.responses import ResponseRule, ViolationType
from corral.runtime.violations import ViolationCounter

if TYPE_CHECKING:
    from corral.runtime.handle import PluginHandle
    from corral.runtime.host import Host

MIN_MEMORY_MB = 32
"""restart_stricter never scales memory below this: an interpreter needs it to start."""


@dataclass
class Pending:
    """Responses waiting for the current call to finish (one list per call)."""

    actions: list[Callable[[], None]] = field(default_factory=list)

    def run(self) -> None:
        while self.actions:
            self.actions.pop(0)()


class Responder:
    """Counts violations per plugin and applies the rule the admin policy picks."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self.counter = ViolationCounter(host._clock)
        self._lock = threading.Lock()

    def violation(
        self,
        handle: PluginHandle,
        kind: ViolationType,
        cause: str,
        pending: Pending | None = None,
        **details: Any,
    ) -> ResponseRule | None:
        """Record one violation; apply (or queue on ``pending``) the response it earns."""
        policy = self._host.policy.responses
        ladder = policy.ladder(handle.name, kind)
        counts = self.counter.add(handle.name, kind, [r.within_seconds for r in ladder])
        rule = policy.choose(handle.name, kind, counts)
        widest = max(counts)
        self._host.record(
            "violation",
            handle.name,
            "deny",
            type=kind,
            cause=cause,
            count=counts[rule.within_seconds] if rule else counts[widest],
            window_seconds=rule.within_seconds if rule else widest,
            **details,
        )
        if rule is not None:
            count = counts[rule.within_seconds]

            def act() -> None:
                self.apply(handle, rule, kind, count)

            if pending is not None:
                pending.actions.append(act)
            else:
                act()
        return rule

    def apply(self, handle: PluginHandle, rule: ResponseRule, kind: str, count: int) -> None:
        """Do what ``rule`` says to ``handle`` and record it as a "response" event."""
        with self._lock:
            try:
                outcome = getattr(self, f"_{rule.action}")(handle, count)
                applied, note = True, outcome
            except SandboxUnavailable as exc:
                applied, note = False, {"error": str(exc)}
        self._host.record(
            "response",
            handle.name,
            "deny" if rule.action != "warn" else "info",
            action=rule.action,
            type=kind,
            count=count,
            after=rule.after,
            within_seconds=rule.within_seconds,
            applied=applied,
            **note,
        )

    # --- the actions (each returns details for the audit event) ---------------

    def _warn(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        return {}

    def _throttle(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        factor = self._host.policy.responses.throttle_factor
        old = handle.grant.limits.cpu_percent
        new = max(1, int(old * factor))
        quotas = handle.throttle(new)
        return {"cpu_percent": [old, new], "cpu_quota_us": quotas}

    def _suspend(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        self._host.control.set_state(handle.name, "suspended", "response", by="response")
        return {"state": "suspended"}

    def _disable(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        self._host.control.set_state(handle.name, "disabled", "response", by="response")
        return {"state": "disabled", "killed": handle.kill_workers("disabled by response")}

    def _kill(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        return {"killed": handle.kill_workers("killed by response")}

    def _restart(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        delay = self._host.policy.responses.backoff(count)
        handle.restart_after(self._host._clock() + delay)
        return {"killed": handle.kill_workers("restarted by response"), "backoff_seconds": delay}

    def _restart_stricter(self, handle: PluginHandle, count: int) -> dict[str, Any]:
        factor = self._host.policy.responses.stricter_factor
        old = handle.grant.limits
        scaled: dict[str, Any] = {
            name: max(1, int(getattr(old, name) * factor))
            for name in ("cpu_percent", "processes", "open_files", "disk_mb", "file_size_mb")
        }
        scaled["memory_mb"] = max(MIN_MEMORY_MB, int(old.memory_mb * factor))
        new = old.model_copy(update=scaled)
        handle.set_limits(new)
        return {
            "killed": handle.kill_workers("restarted with stricter limits"),
            "factor": factor,
            "limits": {k: [getattr(old, k), v] for k, v in scaled.items()},
        }
