"""The Host facade: load plugins, call them in pens, record everything.

A host owns one zygote, one audit sink and the loaded plugin handles. Every
path a plugin takes (load, grant, worker start, call, denial, death) passes
through here so there is exactly one audit path for all of them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from corral.audit import AuditEvent, AuditSink, audit_target, open_store, policy_audit
from corral.errors import (
    CorralError,
    HostError,
    PermissionDenied,
    PluginError,
    SandboxUnavailable,
    SignatureError,
    VettingError,
)
from corral.limits import DEFAULT_LIMITS, Limits
from corral.manifest import load_policy
from corral.netproxy import NetProxy, NetUsage
from corral.policy import AdminPolicy, Grant, Manifest, grant
from corral.policy.plan import DISABLEABLE_LAYERS
from corral.policy.responses import ViolationType
from corral.protocol import Call, Event, HostCall, Result
from corral.runtime.container import ContainerConfig
from corral.runtime.container.backend import ContainerBackend
from corral.runtime.control import Control
from corral.runtime.functions import HostFunctions
from corral.runtime.handle import PluginHandle
from corral.runtime.home import Home
from corral.runtime.hooks import HookRegistry, HookResult
from corral.runtime.inprocess import InProcessWorker
from corral.runtime.lifecycle import lifecycle_target, open_lifecycle
from corral.runtime.monitor import Monitor, Sample
from corral.runtime.pen import PenLayout, build_plan, pen_uid
from corral.runtime.responses import Pending, Responder
from corral.runtime.shared import open_vulns
from corral.runtime.spare import SpareSlot
from corral.runtime.violations import denial_type, error_type
from corral.runtime.vulncycle import VulnCycle
from corral.runtime.worker import Usage, Worker, WorkerProcess
from corral.runtime.zygote import ZygoteClient
from corral.sandbox import cgroups, probe
from corral.sandbox.cgroups import CgroupSet
from corral.trust import Keyring, Store, TrustState, Verified, Verifier, read_manifest
from corral.vetting import Finding, VettingCache, check_plugin
from corral.vetting.vulns import VulnStore, assess

ISOLATION_LEVELS = ("kernel", "process", "container")
_WORKER_KINDS = ("denied", "env.stripped", "plugin.action", "command.run")
_RECORD_PARAMS = frozenset({"kind", "plugin", "decision", "source", "worker", "version", "wait"})
# High-rate informational kinds: queued for the next group commit (acknowledged
# when it commits). Everything else, and any denial, waits for its commit.
_QUEUED_KINDS = frozenset({"call.completed", "hostcall", "hook.called", "network.connect"})
_PROCESS_OFF = frozenset(
    {"userns", "mountns", "pidns", "ipcns", "utsns", "netns", "landlock", "seccomp", "cgroups"}
)


class Host:
    """Loads plugins and runs their calls in kernel-confined workers."""

    def __init__(
        self,
        *,
        home: str | os.PathLike[str] | None = None,
        policy: AdminPolicy | str | os.PathLike[str] | None = None,
        audit: AuditSink | str | None = None,
        keyring: str | os.PathLike[str] | None = None,
        isolation: str = "kernel",
        unsafe_disable_layers: Iterable[str] = (),
        unsafe_in_process: bool = False,
        container: ContainerConfig | None = None,
        clock: Callable[[], float] = time.time,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if isolation not in ISOLATION_LEVELS:
            raise SandboxUnavailable(isolation, f"isolation must be one of {ISOLATION_LEVELS}")
        self.home = Home.at(home)
        self.policy = policy if isinstance(policy, AdminPolicy) else self._policy(policy)
        self._clock = clock
        self.keyring_path = Path(keyring) if keyring is not None else self.home.keyring
        self._trust_state = TrustState(self.home.db)
        self._vetting_cache: VettingCache | None = None
        self._vuln_cycle: VulnCycle | None = None
        self._vulns: VulnStore | None = None
        self.isolation = isolation
        self.unsafe_disable_layers = frozenset(unsafe_disable_layers)
        self.unsafe_in_process = unsafe_in_process
        unknown = self.unsafe_disable_layers - set(DISABLEABLE_LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; known: {DISABLEABLE_LAYERS}")
        self.audit = self._sink(audit)
        self._handles: dict[str, PluginHandle] = {}
        self._callables: dict[str, list[str]] = {}
        self.limits = limits
        self.functions = HostFunctions(limits)
        self.hooks = HookRegistry()
        self._lock = threading.Lock()
        self._zygote: ZygoteClient | None = None
        self._spare = SpareSlot()
        self._proxy: NetProxy | None = None
        self._hostcalls: dict[str, int] = {}
        lifecycle = lifecycle_target(
            self.home.db, self.policy, audit if isinstance(audit, str) else None
        )
        self.control = Control(self, open_lifecycle(lifecycle))
        self.responder = Responder(self)
        self.monitor = Monitor(self)
        if container is None and self.policy.container is not None:
            container = ContainerConfig(**self.policy.container.model_dump())
        self._container_config = container
        self._containers: ContainerBackend | None = None
        if isolation == "container":
            self._containers = ContainerBackend(container or ContainerConfig())
        self._sweep()

    def _sweep(self) -> None:
        """Clear worker cgroups a previous host left behind when it was killed."""
        if os.geteuid() != 0 or "cgroups" in self._disabled_layers():
            return
        # Wall-clock time, never the injectable clock: group ages are file mtimes, and a
        # host with a clock in the future would sweep other hosts' brand-new groups.
        for group in cgroups.sweep_stale(now=time.time()):
            self.record("state", group.name, "info", swept_cgroup=str(group))

    def _policy(self, path: str | os.PathLike[str] | None) -> AdminPolicy:
        if path is None and self.home.policy.exists():
            path = self.home.policy
        return load_policy(path)

    def _sink(self, audit: AuditSink | str | None) -> AuditSink:
        """``audit`` as given, else ``$CORRAL_AUDIT_URL``, policy.yaml's ``audit``, corral.db."""
        if audit is not None and not isinstance(audit, str):
            return audit
        target = audit_target(audit, policy_value=policy_audit(self.policy), default=self.home.db)
        return open_store(target, clock=self._clock)

    # --- public API ---------------------------------------------------------

    def load(self, path: str | os.PathLike[str], *, workers: int = 1) -> PluginHandle:
        """Manifest, verify, store, grant, vet; then start a worker and run the plugin's setup.

        ``path`` is a plugin directory or a ``.corral`` archive. Vetting reads the
        store copy (the bytes that will run) and is judged by the tier the grant
        gives, so it runs after the grant is computed and before anything starts;
        then the vulnerability gate, the isolation the tier requires, lifecycle
        consent, and the network the grant needs.
        """
        verified, store_dir, granted = self._admit(path)
        manifest = verified.manifest
        try:
            granted = self.control.admit(manifest, granted)
            stored = self.control.store.state(manifest.name)
            admin_state = (
                stored.state if stored and stored.state in ("suspended", "disabled") else ""
            )
            self._check_network(granted)
            handle = PluginHandle(
                self,
                manifest,
                granted,
                store_dir,
                workers,
                source=Path(path),
                admin_state=admin_state or "active",
            )
        except CorralError as exc:
            self.record("plugin.refused", manifest.name, "deny", error=str(exc)[:500])
            raise
        with self._lock:
            self._handles[manifest.name] = handle
        self.record(
            "plugin.loaded", manifest.name, "allow", state=handle.state, **verified.details()
        )
        self.control.watch()
        self.monitor.start()
        return handle

    def _admit(
        self, path: str | os.PathLike[str], *, to_run: bool = True
    ) -> tuple[Verified, Path, Grant]:
        """Load steps 1-7: manifest, verify, store, grant, vet, vuln gate, review, isolation.

        The review and isolation checks apply only to a package about to run
        (``to_run``): an administrator installs a version before reviewing it.

        A refusal is recorded as ``plugin.refused`` and re-raised; the grant is
        recorded once everything passed. Shared by :meth:`load` and
        :meth:`install`, so an installed package passed exactly the load's checks.
        """
        name = Path(path).name
        try:
            name = read_manifest(path).name
            verifier = self._verifier()
            verified = self._verify(verifier, path, name)
            store_dir = verifier.install(verified)
            self.vuln_check_if_due()
            manifest = verified.manifest
            granted = grant(manifest, self.policy, signature_tier=verified.tier)
            findings = self._vet(store_dir, manifest, granted.tier, verified.digest)
            self._vuln_gate(manifest, findings)
            if to_run:
                self.vuln_cycle.admit(manifest, self.policy.tier(granted.tier), granted.tier)
                self._check_isolation(granted)
        except CorralError as exc:
            self.record("plugin.refused", name, "deny", error=str(exc)[:500])
            raise
        self.record(
            "grant", manifest.name, "info", version=manifest.version, **_grant_details(granted)
        )
        return verified, store_dir, granted

    def install(self, path: str | os.PathLike[str]) -> tuple[Verified, Path, Grant]:
        """Verify, store, grant, vet and record a package without starting a worker.

        Consent is recorded as at load: a first version is approved by its
        install, a later one asking for more waits for approval; a version an
        administrator refused is refused here too. Review and isolation are not
        checked: the package does not run yet.
        """
        verified, store_dir, granted = self._admit(path, to_run=False)
        try:
            granted = self.control.admit(verified.manifest, granted)
        except CorralError as exc:
            self.record("plugin.refused", verified.manifest.name, "deny", error=str(exc)[:500])
            raise
        return verified, store_dir, granted

    def _vet(
        self, store_dir: Path, manifest: Manifest, tier: str, digest: str
    ) -> tuple[Finding, ...]:
        """Vet the stored bytes (the ones that will run) against the tier the grant gives.

        Each finding is an audit event; a finding the tier's policy blocks, or a
        use of a permission the manifest does not declare, refuses the load with
        ``VettingError``. Results are cached by digest, so a reload costs a lookup.
        """
        if self._vetting_cache is None:
            self._vetting_cache = VettingCache(self.home.db)

        def record(
            kind: str, plugin: str, version: str, decision: str, details: dict[str, Any]
        ) -> None:
            extra = {k: v for k, v in details.items() if k not in _RECORD_PARAMS}
            self.record(kind, plugin, decision, version=version, **extra)

        return check_plugin(
            store_dir,
            manifest,
            self.policy,
            tier,
            digest=digest,
            record=record,
            cache=self._vetting_cache,
        ).findings

    def _vuln_gate(self, manifest: Manifest, findings: tuple[Finding, ...]) -> None:
        """Seed 001's cycle at load: a version a disabling report affects does not run.

        A score above the policy's maximum is recorded (flagged) but loads:
        findings alone inform, as vetting does, unless policy blocks them there.
        """

        def record(
            kind: str, plugin: str, version: str, decision: str, details: dict[str, Any]
        ) -> None:
            flagged = details.get("action") == "refuse"
            extra = {k: v for k, v in details.items() if k not in _RECORD_PARAMS}
            self.record(kind, plugin, "info" if flagged else decision, version=version, **extra)

        if self._vulns is None:  # where the lifecycle state is: shared on PostgreSQL
            self._vulns = open_vulns(self.control.store.target, host_id=self.audit.host_id)
        store = self._vulns
        _, gate = assess(
            store, manifest.name, manifest.version, findings, self.policy, record=record
        )
        if gate.action == "disable":
            raise VettingError(f"{gate.reason}; install a fixed version (corral vuln list)")

    @property
    def vuln_cycle(self) -> VulnCycle:
        """Seed 001's review and vulnerability cycle over this host's home (made on first use)."""
        if self._vuln_cycle is None:

            def record(kind: str, plugin: str, decision: str, details: dict[str, Any]) -> None:
                extra = {k: v for k, v in details.items() if k not in _RECORD_PARAMS}
                self.record(
                    kind, plugin, decision, version=str(details.get("version", "")), **extra
                )

            def set_state(plugin: str, state: str, reason: str) -> None:
                self.control.set_state(plugin, state, reason, by="vuln check")

            self._vuln_cycle = VulnCycle(
                self.home,
                self.policy,
                record=record,
                set_state=set_state,
                lifecycle=self.control.store,
                keyring=self.keyring_path,
                clock=self._clock,
                host_id=self.audit.host_id,
                by=f"host {self.audit.host_id}",
            )
        return self._vuln_cycle

    def vuln_check_if_due(self) -> None:
        """Run the vulnerability check when overdue (``check_interval_days``, 30 by default).

        Called at each load and by the monitor; a failing check is recorded and
        never fails the load or the monitor (the load still runs its own gates).
        """
        try:
            self.vuln_cycle.run_if_due()
        except CorralError as exc:
            self.record("vuln.check", "", "info", error=str(exc)[:500])

    def _check_isolation(self, granted: Grant) -> None:
        """Fail secure: a plugin the policy puts in a container gets one, or does not load.

        ``kernel`` (every tier's default) is met by a kernel or container host, and by
        a ``process`` host only because its application asked for that level by name.
        ``container`` is met by a container host, or by any host given a
        ``ContainerConfig``, which runs just those plugins in containers; the engine
        is reached here, at load, so an unreachable one refuses the plugin
        (``SandboxUnavailable``) instead of running it in a weaker wall.
        """
        if granted.isolation != "container" or self.isolation == "container":
            return
        if self._container_config is None:
            raise SandboxUnavailable(
                "container",
                f"policy runs plugin {granted.plugin!r} (tier {granted.tier}) under "
                f"isolation='container'; this host is isolation={self.isolation!r} with no "
                "container engine (pass container=ContainerConfig(...))",
            )
        self._container_backend()

    def _container_backend(self) -> ContainerBackend:
        """The engine connection, made on first need (a kernel host may never need one)."""
        with self._lock:
            if self._containers is None:
                self._containers = ContainerBackend(self._container_config or ContainerConfig())
            return self._containers

    def _in_container(self, granted: Grant) -> bool:
        """Where this plugin's workers run: the host's own level, or the policy's container."""
        return self.isolation == "container" or (
            granted.isolation == "container" and self._container_config is not None
        )

    def _verifier(self) -> Verifier:
        """A verifier over the keyring as it is now, so a revocation counts on the next load."""
        return Verifier(
            Keyring.load(self.keyring_path),
            state=self._trust_state,
            store=Store(self.home.store),
            clock=self._clock,
        )

    def _verify(self, verifier: Verifier, path: str | os.PathLike[str], name: str) -> Verified:
        """Verify, recording the signature's fate; hygiene refusals become plugin.refused."""
        try:
            verified = verifier.verify(path, self.policy)
        except SignatureError as exc:
            self.record("signature.failed", name, "deny", reason=str(exc)[:500])
            raise
        if verified.signed:
            self.record("signature.verified", name, "allow", **verified.details())
        return verified

    def function(
        self, name: str, *, requires: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a host function plugins may call, behind permission ``requires``."""
        return self.functions.register(name, requires=requires)

    def hook_point(self, name: str) -> None:
        """Declare hook point ``name``; plugins may register handlers only for declared points.

        Declare hook points before loading plugins: handlers are judged when a
        plugin's first worker reports them.
        """
        self.hooks.declare(name)

    def run_hook(self, name: str, *args: Any, **kwargs: Any) -> list[HookResult]:
        """Call every registered handler of ``name``, each in its own pen, concurrently.

        Each handler runs under its plugin's ``hook_timeout_seconds`` (5 s by
        default); a failure, crash or timeout becomes that plugin's
        ``HookResult`` and never stops the others.
        """
        if not self.hooks.declared(name):
            raise HostError(f"no hook point {name!r}; declare it with host.hook_point({name!r})")
        targets = [
            (handle, handler)
            for handle in self.plugins()
            if (handler := self.hooks.handler(handle.name, name)) is not None
        ]
        if not targets:
            return []
        with ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="corral-hook") as pool:
            futures = [
                pool.submit(self._run_hook_one, handle, handler, name, args, kwargs)
                for handle, handler in targets
            ]
            return [f.result() for f in futures]

    async def arun_hook(self, name: str, *args: Any, **kwargs: Any) -> list[HookResult]:
        """The asyncio form of :meth:`run_hook`; the waiting happens off the event loop."""
        return await asyncio.to_thread(self.run_hook, name, *args, **kwargs)

    def _run_hook_one(
        self,
        handle: PluginHandle,
        handler: str,
        hook: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HookResult:
        start = time.monotonic()
        try:
            value = handle._invoke(
                handler,
                args,
                kwargs,
                timeout=handle.grant.limits.hook_timeout_seconds,
                limit="hook_timeout_seconds",
            )
        except CorralError as exc:
            duration = time.monotonic() - start
            self.record(
                "hook.called",
                handle.name,
                "deny" if isinstance(exc, PermissionDenied) else "info",
                hook=hook,
                handler=handler,
                ok=False,
                error_type=type(exc).__name__,
                error=str(exc)[:500],
                duration_ms=round(duration * 1000, 3),
            )
            return HookResult(handle.name, False, error=exc, duration=duration)
        duration = time.monotonic() - start
        self.record(
            "hook.called",
            handle.name,
            "allow",
            hook=hook,
            handler=handler,
            ok=True,
            duration_ms=round(duration * 1000, 3),
        )
        return HookResult(handle.name, True, value=value, duration=duration)

    def plugins(self) -> list[PluginHandle]:
        with self._lock:
            return list(self._handles.values())

    # --- lifecycle (runtime/control.py does the work) -------------------------

    def suspend(self, plugin: str, reason: str = "admin") -> None:
        """No new calls until :meth:`resume`; stored, so it survives a restart."""
        self.control.set_state(plugin, "suspended", reason)

    def resume(self, plugin: str) -> None:
        self.control.resume(plugin, expect="suspended")

    def disable(self, plugin: str, reason: str = "admin") -> None:
        """Kill the plugin's workers and refuse calls until :meth:`enable`; stored."""
        self.control.set_state(plugin, "disabled", reason)

    def enable(self, plugin: str) -> None:
        self.control.resume(plugin, expect="disabled")

    def approve(self, plugin: str, version: str | None = None) -> frozenset[str]:
        """Consent to the permissions a new version asked for; a loaded plugin is reloaded."""
        return self.control.approve(plugin, version)

    def unload(self, plugin: str) -> None:
        self._loaded(plugin).close()

    def reload(self, plugin: str) -> PluginHandle:
        """Load the plugin again from where it came from: re-validated and re-granted."""
        old = self._loaded(plugin)
        if old.source is None:
            raise HostError(f"plugin {plugin!r} was not loaded from a path; load it again")
        old.close()
        return self.load(old.source, workers=old._size)

    def usage(self, plugin: str) -> list[Sample]:
        """The monitor's recent samples of ``plugin`` (bounded history, oldest first)."""
        return self.monitor.history(plugin)

    def _loaded(self, plugin: str) -> PluginHandle:
        with self._lock:
            handle = self._handles.get(plugin)
        if handle is None:
            raise HostError(f"plugin {plugin!r} is not loaded")
        return handle

    def close(self) -> None:
        """Tear down every plugin and the zygote; nothing outlives the host."""
        try:
            self.monitor.stop()
            for handle in self.plugins():
                handle.close()
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None
            self._spare.close()
            if self._proxy is not None:
                self._proxy.close()
                self._proxy = None
            if self._containers is not None:
                self._containers.close()
            self.control.store.close()
        finally:
            self.audit.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- audit ---------------------------------------------------------------

    def record(
        self,
        kind: str,
        plugin: str,
        decision: str,
        *,
        source: str = "host",
        worker: str = "",
        version: str = "",
        wait: bool | None = None,
        **details: Any,
    ) -> None:
        """Write one audit event; for all but high-rate info, return once it is committed.

        Denials, refusals, kills, state changes and admin actions are
        acknowledged before this returns, so before the host raises or
        returns to its caller; ``call.completed`` and the like are queued and
        acknowledged with their batch (DESIGN.md, "Events are durable when
        acknowledged"). ``wait`` overrides that choice; a caller passing
        ``wait=False`` for a denial must flush before it answers its own caller.
        """
        handle = self._handles.get(plugin)
        event = AuditEvent(
            time=self._clock(),
            kind=kind,
            plugin=plugin,
            decision=decision,
            source=source,
            version=version or (handle.version if handle else ""),
            digest=handle.store_dir.name if handle else "",
            worker=worker,
            host_id=self.audit.host_id,
            details=details,
        )
        if wait is False or (wait is None and decision != "deny" and kind in _QUEUED_KINDS):
            self.audit.submit(event)
        else:
            self.audit.write(event)

    # --- used by handles -----------------------------------------------------

    def _disabled_layers(self, granted: Grant | None = None) -> frozenset[str]:
        """Layers off for a worker: a container worker never inherits a process host's level."""
        in_container = granted is not None and self._in_container(granted)
        base = _PROCESS_OFF if self.isolation == "process" and not in_container else frozenset()
        return base | self.unsafe_disable_layers

    def _start_worker(self, handle: PluginHandle) -> Worker:
        if self.unsafe_in_process:
            self.record("unsafe", handle.name, "info", unsafe_in_process=True)
            inproc = InProcessWorker(handle.name, str(handle.store_dir), handle.manifest.entry)
            self._callables[handle.name] = inproc.callables
            self._register_hooks(handle, inproc.hooks)
            return inproc
        if self._in_container(handle.grant):
            worker = self._start_container(handle)
            return self._ready(handle, worker, sorted(self._disabled_layers(handle.grant)))
        spare = self._spare.take(self._cgroup_name(handle), handle.grant.limits)
        cgroup = spare.group if spare is not None else self._cgroup(handle)
        dispenser = None
        try:
            spec = self._spec(handle, cgroup.name if cgroup else "")
            if spare is not None:
                spec["spare"] = spare.spare
            if self._zygote is None or not self._zygote.alive:
                self._zygote = ZygoteClient()
            zygote = self._zygote
            dispenser = self._dispenser(handle)
            spawned = zygote.spawn(spec, network=dispenser)
        except BaseException:
            if dispenser is not None:
                dispenser.close()
            if cgroup is not None:
                cgroup.kill_all()  # a spare already in it
                cgroup.destroy()
            raise
        worker = WorkerProcess(spawned, handle.name, cgroup, handle.grant.limits.cpu_seconds)
        started = self._ready(handle, worker, sorted(spec["plan"]["disabled_layers"]))
        if cgroup is not None:  # the next start finds a spare already in its group
            self._spare.refill_soon(zygote)  # a zygote closed meanwhile refuses it: no spare
        return started

    def _ready(self, handle: PluginHandle, worker: WorkerProcess, layers_off: list[str]) -> Worker:
        """Wait for the plugin's setup under the init timeout; record the start or the crash."""
        # Import and setup() are plugin code too: the per-call cap on its reports applies.
        events = _EventCap(self._event_handler(handle, str(worker.pid)), self.limits)
        try:
            worker.wait_ready(handle.grant.limits.init_timeout_seconds, events)
        except PluginError as exc:
            self._summarise_flood(handle, worker, events.over, during="setup")
            self.record(
                "worker.crashed", handle.name, "deny", worker=str(worker.pid), error=str(exc)[:500]
            )
            raise
        self._summarise_flood(handle, worker, events.over, during="setup")
        self._callables[handle.name] = worker.callables
        self._register_hooks(handle, worker.hooks)
        self.record(
            "worker.started",
            handle.name,
            "info",
            worker=str(worker.pid),
            layers_off=layers_off,
            network=handle.grant.network,
            isolation="container" if self._in_container(handle.grant) else self.isolation,
        )
        return worker

    def _start_container(self, handle: PluginHandle) -> WorkerProcess:
        backend = self._container_backend()
        if self.unsafe_disable_layers:
            layers = sorted(self.unsafe_disable_layers)
            self.record("unsafe", handle.name, "info", unsafe_disable_layers=layers)
        dispenser = self._dispenser(handle)
        try:
            return backend.start(
                handle.grant,
                handle.store_dir,
                handle.manifest.entry,
                self._disabled_layers(handle.grant),
                dispenser=dispenser,
            )
        finally:
            if dispenser is not None:
                dispenser.close()  # the container holds its own copy now

    def _dispenser(self, handle: PluginHandle) -> socket.socket | None:
        """A restricted worker's way to the filtering proxy (the proxy starts on first use)."""
        if handle.grant.network != "restricted":
            return None
        with self._lock:
            if self._proxy is None:
                self._proxy = NetProxy(self._proxy_record)
            proxy = self._proxy
        door = proxy.door(
            handle.name, handle.grant, max_connections=handle.grant.limits.max_connections
        )
        return proxy.dispenser(door)

    def _proxy_record(self, kind: str, plugin: str, decision: str, **details: Any) -> None:
        """The proxy's own observations: recorded, and a refusal counts as a network violation.

        The guard refuses most ungranted connects inside the pen (counted there); what
        reaches a proxy refusal got past it (a rebinding name, the connection limit, a
        ctypes socket to the forwarder), so nothing is counted twice.
        """
        self.record(kind, plugin, decision, **details)
        handle = self._handles.get(plugin)
        if decision == "deny" and handle is not None:
            cause = str(details.get("reason", "proxy refusal"))[:200]
            self.responder.violation(handle, "network", "network.connect", reason=cause)

    def network_usage(self, plugin: str) -> NetUsage | None:
        """Connections and bytes a restricted plugin moved through the proxy (None: never)."""
        proxy = self._proxy
        return proxy.usage(plugin) if proxy is not None else None

    def _cgroup(self, handle: PluginHandle) -> CgroupSet | None:
        """A fresh cgroup set for one worker where this host can create them, else None.

        Without cgroups the pen falls back to rlimits (DESIGN.md, "Limits without
        root"); ``corral doctor`` says which is in force.
        """
        if not self._cgroups_usable():
            return None
        limits = handle.grant.limits
        return CgroupSet.create(
            self._cgroup_name(handle),
            memory_mb=limits.memory_mb,
            processes=limits.processes,
            cpu_percent=limits.cpu_percent,
        )

    @staticmethod
    def _cgroup_name(handle: PluginHandle) -> str:
        return f"{handle.name}-{uuid.uuid4().hex[:12]}"

    def _cgroups_usable(self) -> bool:
        if "cgroups" in self._disabled_layers() or os.geteuid() != 0:
            return False
        found = cgroups.available()
        return all(found.get(c) for c in ("memory", "pids", "cpu"))

    def _spec(self, handle: PluginHandle, cgroup_name: str) -> dict[str, Any]:
        disabled = self._disabled_layers()
        if self.unsafe_disable_layers:
            self.record(
                "unsafe",
                handle.name,
                "info",
                unsafe_disable_layers=sorted(self.unsafe_disable_layers),
            )
        work = self._work_dir(handle.name)
        layout = PenLayout(str(handle.store_dir), str(work), mounted="mountns" not in disabled)
        if not layout.mounted and os.geteuid() == 0:
            _require_reachable(pen_uid(handle.name), (layout.plugin_source, layout.work_source))
        plan, read, write = build_plan(
            handle.grant,
            layout,
            host_env=os.environ,
            cgroup_name=cgroup_name,
            disabled_layers=disabled,
        )
        probe.require(plan)
        return {
            "plan": plan.to_wire(),
            "grant": handle.grant.to_wire(),
            "plugin": handle.name,
            "entry": handle.manifest.entry,
            "baseline_read": list(read),
            "baseline_write": list(write),
            "manifest_file": "plugin.yaml",
        }

    def _work_dir(self, plugin: str) -> Path:
        work = self.home.work / plugin
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            os.chown(work, pen_uid(plugin), pen_uid(plugin))
        return work

    def _register_hooks(self, handle: PluginHandle, reported: dict[str, str]) -> None:
        """Judge the handlers a plugin's first worker reports (later workers report the same)."""
        if self.hooks.known(handle.name):
            return

        def audit(decision: str, **details: Any) -> None:
            self.record("hook.registered", handle.name, decision, **details)

        self.hooks.register(handle.name, handle.grant, reported, audit)

    def _run_call(
        self,
        handle: PluginHandle,
        worker: Worker,
        call: Call,
        timeout: float | None = None,
        limit: str = "call_timeout_seconds",
    ) -> tuple[Any, Usage]:
        pending = Pending()
        try:
            return self._call_worker(handle, worker, call, pending, timeout=timeout, limit=limit)
        finally:
            pending.run()  # responses land before the call returns or raises

    def _call_worker(
        self,
        handle: PluginHandle,
        worker: Worker,
        call: Call,
        pending: Pending,
        *,
        timeout: float | None,
        limit: str,
    ) -> tuple[Any, Usage]:
        timeout = handle.grant.limits.call_timeout_seconds if timeout is None else timeout
        events = _EventCap(self._event_handler(handle, str(worker.pid), pending), self.limits)

        def on_hostcall(message: HostCall, left: float) -> Result:
            return self._host_call(handle, message, left, pending)

        try:
            value, usage = worker.call(call, timeout, events, on_hostcall, limit)
        except PluginError as exc:
            self._summarise_flood(handle, worker, events.over, callable=call.name)
            kind = "timeout" if type(exc).__name__ == "PluginTimeout" else "call.failed"
            if worker.dead:
                kind = kind if kind == "timeout" else "worker.crashed"
            decision = "deny" if isinstance(exc, PermissionDenied) or worker.dead else "info"
            # A waited write: its commit also carries the worker's queued reports.
            self.record(
                kind,
                handle.name,
                decision,
                wait=True,
                worker=str(worker.pid),
                callable=call.name,
                error=str(exc)[:500],
                error_type=type(exc).__name__,
            )
            violation = error_type(exc)
            if violation is not None and not getattr(worker, "killed_for", ""):
                self.responder.violation(handle, violation, kind, pending, callable=call.name)
            raise
        except BaseException:
            self._summarise_flood(handle, worker, events.over, callable=call.name)
            if events.seen:
                self.audit.flush()
            raise
        self._summarise_flood(handle, worker, events.over, callable=call.name)
        self.record(
            "call.completed",
            handle.name,
            "allow",
            worker=str(worker.pid),
            callable=call.name,
            usage=usage.to_dict(),
        )
        if events.seen:
            self.audit.flush()
        return value, usage

    def _summarise_flood(
        self, handle: PluginHandle, worker: Worker, over: int, **where: Any
    ) -> None:
        """One acknowledged record for the reports past the cap: counted, not lost.

        ``where`` names the call (``callable``) or the start (``during="setup"``).
        """
        if over > 0:
            self.record(
                "denied",
                handle.name,
                "deny",
                source="worker",
                worker=str(worker.pid),
                suppressed=over,
                reason=f"more than {self.limits.worker_events_per_call} reports in one "
                + ("start" if "during" in where else "call"),
                **where,
            )

    def _event_handler(
        self, handle: PluginHandle, worker: str, pending: Pending | None = None
    ) -> Callable[[Event], None]:
        def on_event(event: Event) -> None:
            kind = event.type if event.type in _WORKER_KINDS else "denied"
            decision = event.decision if event.decision in ("allow", "deny", "info") else "deny"
            # The worker's details are the plugin's words: they may not name record()'s own
            # parameters (a TypeError would surface from a plugin call instead of an error).
            details = {str(k): v for k, v in event.details.items() if str(k) not in _RECORD_PARAMS}
            # Queued, not waited on: a plugin can report denials in a loop, and one
            # commit per report would let it stall the host. Every path that
            # answers the caller flushes first (or writes, which commits them too).
            self.record(
                kind, handle.name, decision, source="worker", worker=worker, wait=False, **details
            )
            if kind == "denied" and decision == "deny":
                self.responder.violation(
                    handle, denial_type(event.details), "denied", pending, source="worker"
                )

        return on_event

    def _host_call(
        self,
        handle: PluginHandle,
        message: HostCall,
        left: float,
        pending: Pending | None = None,
    ) -> Result:
        self._hostcalls[handle.name] = self._hostcalls.get(handle.name, 0) + 1

        def audit(decision: str, **details: Any) -> None:
            self.record("hostcall", handle.name, decision, **details)
            if decision == "deny":
                kind: ViolationType = (
                    "resource" if details.get("reason") == "host_call_rate" else "permission"
                )
                self.responder.violation(handle, kind, "hostcall", pending, function=message.name)

        return self.functions.dispatch(handle.name, handle.grant, message, audit, left)

    def hostcall_count(self, plugin: str) -> int:
        """Host-function calls ``plugin`` has made (the monitor turns it into a rate)."""
        return self._hostcalls.get(plugin, 0)

    def _forget(self, handle: PluginHandle) -> None:
        with self._lock:
            self._handles.pop(handle.name, None)
        self.hooks.forget(handle.name)
        self.record("plugin.unloaded", handle.name, "info")

    def _check_network(self, granted: Grant) -> None:
        """Restricted networking stands on the pen's empty namespace: without it, refuse.

        The proxy is the only way out only where the pen has no route of its
        own; with the network namespace off the forwarder would also sit on
        the host's loopback, shared with every other pen.
        """
        if granted.network == "restricted" and "netns" in self._disabled_layers(granted):
            raise SandboxUnavailable(
                "netns",
                f"plugin {granted.plugin!r} has network level restricted, which needs the pen's "
                "own network namespace (isolation='kernel' with the netns layer on)",
            )


def _require_reachable(uid: int, paths: Iterable[str]) -> None:
    """Refuse, naming the directory, when the pen's uid cannot reach its own files.

    Without the mount layer (isolation="process") the pen opens its store copy
    and work dir by their host paths as an unprivileged uid. A directory above
    them that it may not search would kill the pen on its first open, with an
    error that blames the plugin for the host's layout.
    """
    for path in map(Path, paths):
        for directory in (*reversed(path.parents), path):
            info = directory.stat()
            owner, group = info.st_uid == uid, info.st_gid == uid
            bit = stat.S_IXUSR if owner else stat.S_IXGRP if group else stat.S_IXOTH
            if not info.st_mode & bit:
                raise SandboxUnavailable(
                    "process",
                    f"the pen runs as uid {uid} and may not search {directory} (on the way "
                    f"to {path}); keep the corral home under directories others may search "
                    "(chmod o+x), or use isolation='kernel'",
                )


def _grant_details(granted: Grant) -> dict[str, Any]:
    return {
        "tier": granted.tier,
        "permissions": [str(p) for p in granted.permissions],
        "dropped": [list(d) for d in granted.dropped],
        "network": granted.network,
        "isolation": granted.isolation,
        "notes": list(granted.notes),
    }


class _EventCap:
    """A worker's reports for one call or one start: written up to the cap, then counted.

    The reports come from code the plugin controls; past
    ``Limits.worker_events_per_call`` a flood is counted in one record
    (``Host._summarise_flood``), not written one by one.
    """

    def __init__(self, reported: Callable[[Event], None], limits: Limits) -> None:
        self._reported = reported
        self._cap = limits.worker_events_per_call
        self.seen = 0

    def __call__(self, event: Event) -> None:
        self.seen += 1
        if self.seen <= self._cap:
            self._reported(event)

    @property
    def over(self) -> int:
        return self.seen - self._cap
