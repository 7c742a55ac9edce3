"""The host's side of the lifecycle: state changes, consent on upgrade, reload.

Every change is written to the lifecycle store first, then to the handle in
memory, then recorded as a "plugin.state" event before the method returns. A
store written first means a host that dies half-way leaves the stricter state
behind, and a CLI in another process sees exactly what the host will do.

Changes another process stores reach a running host three ways: before each
call (:meth:`Control.check`, a one-row read on SQLite, a flag on PostgreSQL),
from the PostgreSQL store's listener thread, and at every monitor round.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from corral.errors import HostError
from corral.policy import Grant, Manifest
from corral.runtime.lifecycle import Approval, LifecycleStore

if TYPE_CHECKING:
    from corral.runtime.handle import PluginHandle
    from corral.runtime.host import Host

ADMIN_STATES = ("suspended", "disabled")


class Control:
    """Suspend, resume, disable, enable, approve; and the approval check at load."""

    def __init__(self, host: Host, store: LifecycleStore) -> None:
        self._host = host
        self.store = store
        self._lock = threading.Lock()  # a poll must not see a change half-applied

    def _handle(self, plugin: str) -> PluginHandle | None:
        return next((h for h in self._host.plugins() if h.name == plugin), None)

    def set_state(self, plugin: str, state: str, reason: str, *, by: str = "admin") -> None:
        """Store and apply an administrative state: suspended, disabled, or loaded (active)."""
        with self._lock:
            self._set_state(plugin, state, reason, by)

    def _set_state(self, plugin: str, state: str, reason: str, by: str) -> None:
        handle = self._handle(plugin)
        stored = self.store.state(plugin)
        if handle is None and stored is None and state not in ADMIN_STATES:
            raise HostError(f"plugin {plugin!r} is not loaded and has no stored state")
        version = handle.version if handle else (stored.version if stored else "")
        before = handle.state if handle else (stored.state if stored else "unknown")
        self.store.set_state(plugin, state, now=self._host._clock(), version=version, reason=reason)
        if handle is not None:
            handle.admin_state = state if state in ADMIN_STATES else "active"
            if state == "disabled":
                handle.kill_workers("disabled")
        if state not in ADMIN_STATES:
            self._host.responder.counter.forget(plugin)
        self._host.record(
            "plugin.state",
            plugin,
            "info",
            state=state,
            previous=before,
            reason=reason,
            by=by,
        )

    def resume(self, plugin: str, *, expect: str) -> None:
        """Undo ``expect`` (suspended or disabled); refuse to resume what was not paused."""
        stored = self.store.state(plugin)
        current = stored.state if stored else "loaded"
        if current != expect:
            raise HostError(f"plugin {plugin!r} is {current}, not {expect}")
        self.set_state(plugin, "loaded", f"{'resumed' if expect == 'suspended' else 'enabled'}")

    def check(self) -> None:
        """Before a call: adopt what another process stored, if the store says anything changed."""
        if self.store.changed():
            self.poll()

    def watch(self) -> None:
        """Let the store call :meth:`poll` from its own thread (PostgreSQL LISTEN; else no-op)."""
        self.store.watch(self.poll)

    def poll(self) -> None:
        """Adopt changes another process (the CLI) stored; called by the monitor each round."""
        with self._lock:
            self._poll()

    def _poll(self) -> None:
        states = self.store.states()
        for handle in self._host.plugins():
            stored = states.get(handle.name)
            if stored is None:
                continue
            wanted = stored.state if stored.state in ADMIN_STATES else "active"
            if wanted != handle.admin_state:
                handle.admin_state = wanted
                if wanted == "disabled":
                    handle.kill_workers("disabled")
                self._host.record(
                    "plugin.state",
                    handle.name,
                    "info",
                    state=stored.state,
                    reason=stored.reason,
                    by="store",
                )

    # --- consent ---------------------------------------------------------------

    def admit(self, manifest: Manifest, granted: Grant) -> Grant:
        """The grant narrowed to what an administrator approved for this plugin.

        The first version loaded is approved by loading it. A later version
        asking for permissions outside the approved set runs with the
        approved ones only, and its request waits for :meth:`approve`. A
        version whose request an administrator refused does not load at all.
        """
        asked = frozenset(str(p) for p in granted.permissions)
        approval = self.store.approval(manifest.name)
        refused = self.store.refusal(manifest.name, manifest.version)
        if refused is not None and not asked <= _approved(approval):
            _, reason = refused
            unapproved = sorted(asked - _approved(approval))
            raise HostError(
                f"plugin {manifest.name!r} {manifest.version}: an administrator refused the "
                f"permissions it asks for ({', '.join(unapproved)})"
                + (f": {reason}" if reason else "")
                + f"; to allow them run `corral plugins approve {manifest.name} --version "
                f"{manifest.version}`, or install a version that does not ask for them"
            )
        now = self._host._clock()
        if approval is None or asked <= approval.permissions:
            if approval is None or approval.version != manifest.version:
                self.store.approve(manifest.name, manifest.version, asked, now=now)
            return granted
        new = asked - approval.permissions
        self.store.ask(manifest.name, manifest.version, asked, now=now)
        self._host.record(
            "plugin.state",
            manifest.name,
            "deny",
            state="awaiting_approval",
            version=manifest.version,
            approved_version=approval.version,
            new_permissions=sorted(new),
        )
        kept = tuple(p for p in granted.permissions if str(p) in approval.permissions)
        dropped = tuple((p, f"awaiting approval (new in {manifest.version})") for p in sorted(new))
        return replace(granted, permissions=kept, dropped=(*granted.dropped, *dropped))

    def approve(self, plugin: str, version: str | None = None) -> frozenset[str]:
        """Consent to the permissions ``plugin`` (at ``version``) asked for; reload if loaded."""
        pending = awaiting(self.store, plugin, version)
        self.store.approve(plugin, pending.version, pending.permissions, now=self._host._clock())
        self._host.record(
            "plugin.state",
            plugin,
            "allow",
            state="approved",
            version=pending.version,
            permissions=sorted(pending.permissions),
        )
        handle = self._handle(plugin)
        if handle is not None and handle.source is not None:
            self._host.reload(plugin)
        return pending.permissions


def _approved(approval: Approval | None) -> frozenset[str]:
    return approval.permissions if approval is not None else frozenset()


def awaiting(store: LifecycleStore, plugin: str, version: str | None) -> Approval:
    """The request an approval answers: the pending one, else a refused one at ``version``.

    A refusal is not final: an administrator who changes their mind approves
    the refused version by naming it.
    """
    pending = store.pending(plugin)
    if pending is not None and (version is None or pending.version == version):
        return pending
    refused = store.refusal(plugin, version) if version is not None else None
    if refused is not None:
        return refused[0]
    raise HostError(
        f"plugin {plugin!r} has no request awaiting approval"
        + (f" for version {version}" if version else "")
    )
