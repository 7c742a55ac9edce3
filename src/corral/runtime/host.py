"""The Host facade: load plugins, call them in pens, record everything.

A host owns one zygote, one audit sink and the loaded plugin handles. Every
path a plugin takes (load, grant, worker start, call, denial, death) passes
through here so there is exactly one audit path for all of them.
"""

from __future__ import annotations

import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from corral.audit import AuditEvent, AuditSink, JsonlSink, MemorySink
from corral.errors import CorralError, PermissionDenied, PluginError, SandboxUnavailable
from corral.manifest import load_manifest, load_policy
from corral.policy import AdminPolicy, Grant, grant
from corral.policy.plan import LAYERS
from corral.protocol import Call, Event, HostCall, Result
from corral.runtime.container import ContainerConfig
from corral.runtime.container.backend import ContainerBackend
from corral.runtime.functions import HostFunctions
from corral.runtime.handle import PluginHandle
from corral.runtime.home import Home
from corral.runtime.inprocess import InProcessWorker
from corral.runtime.pen import PenLayout, build_plan, pen_uid
from corral.runtime.store import store_plugin
from corral.runtime.worker import Usage, Worker, WorkerProcess
from corral.runtime.zygote import ZygoteClient
from corral.sandbox import cgroups, probe
from corral.sandbox.cgroups import CgroupSet

ISOLATION_LEVELS = ("kernel", "process", "container")
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
        isolation: str = "kernel",
        unsafe_disable_layers: Iterable[str] = (),
        unsafe_in_process: bool = False,
        container: ContainerConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isolation not in ISOLATION_LEVELS:
            raise SandboxUnavailable(isolation, f"isolation must be one of {ISOLATION_LEVELS}")
        self.home = Home.at(home)
        self.policy = policy if isinstance(policy, AdminPolicy) else self._policy(policy)
        self.audit = self._sink(audit)
        self.isolation = isolation
        self.unsafe_disable_layers = frozenset(unsafe_disable_layers)
        self.unsafe_in_process = unsafe_in_process
        unknown = self.unsafe_disable_layers - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; known: {LAYERS}")
        self._clock = clock
        self._handles: dict[str, PluginHandle] = {}
        self._callables: dict[str, list[str]] = {}
        self.functions = HostFunctions()
        self._lock = threading.Lock()
        self._zygote: ZygoteClient | None = None
        self._containers: ContainerBackend | None = None
        if isolation == "container":
            self._containers = ContainerBackend(container or ContainerConfig())
        self._sweep()

    def _sweep(self) -> None:
        """Clear worker cgroups a previous host left behind when it was killed."""
        if os.geteuid() != 0 or "cgroups" in self._disabled_layers():
            return
        for group in cgroups.sweep_stale(now=self._clock()):
            self.record("state", group.name, "info", swept_cgroup=str(group))

    def _policy(self, path: str | os.PathLike[str] | None) -> AdminPolicy:
        if path is None and self.home.policy.exists():
            path = self.home.policy
        return load_policy(path)

    def _sink(self, audit: AuditSink | str | None) -> AuditSink:
        if audit is None:
            return JsonlSink(self.home.audit_jsonl)
        if audit == "memory":
            return MemorySink()
        if isinstance(audit, str):
            return JsonlSink(audit)
        return audit

    # --- public API ---------------------------------------------------------

    def load(self, path: str | os.PathLike[str], *, workers: int = 1) -> PluginHandle:
        """Validate, grant, store, start a worker and run the plugin's setup."""
        try:
            manifest = load_manifest(path)
            granted = grant(manifest, self.policy)
        except CorralError as exc:
            self.record("plugin.refused", str(Path(path).name), "deny", error=str(exc))
            raise
        self.record(
            "grant", manifest.name, "info", version=manifest.version, **_grant_details(granted)
        )
        try:
            self._check_network(granted)
            store_dir = store_plugin(path, self.home.store, manifest.name)
            handle = PluginHandle(self, manifest, granted, store_dir, workers)
        except CorralError as exc:
            self.record("plugin.refused", manifest.name, "deny", error=str(exc)[:500])
            raise
        with self._lock:
            self._handles[manifest.name] = handle
        self.record("plugin.loaded", manifest.name, "allow", version=manifest.version)
        return handle

    def function(
        self, name: str, *, requires: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a host function plugins may call, behind permission ``requires``."""
        return self.functions.register(name, requires=requires)

    def plugins(self) -> list[PluginHandle]:
        with self._lock:
            return list(self._handles.values())

    def close(self) -> None:
        """Tear down every plugin and the zygote; nothing outlives the host."""
        for handle in self.plugins():
            handle.close()
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._containers is not None:
            self._containers.close()
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
        **details: Any,
    ) -> None:
        """Write one audit event; returns once the sink has it (acknowledged)."""
        self.audit.write(
            AuditEvent(
                time=self._clock(),
                kind=kind,
                plugin=plugin,
                decision=decision,
                source=source,
                worker=worker,
                details=details,
            )
        )

    # --- used by handles -----------------------------------------------------

    def _disabled_layers(self) -> frozenset[str]:
        base = _PROCESS_OFF if self.isolation == "process" else frozenset()
        return base | self.unsafe_disable_layers

    def _start_worker(self, handle: PluginHandle) -> Worker:
        if self.unsafe_in_process:
            self.record("unsafe", handle.name, "info", unsafe_in_process=True)
            inproc = InProcessWorker(handle.name, str(handle.store_dir), handle.manifest.entry)
            self._callables[handle.name] = inproc.callables
            return inproc
        if self._containers is not None:
            worker = self._start_container(handle)
            return self._ready(handle, worker, sorted(self._disabled_layers()))
        cgroup = self._cgroup(handle)
        try:
            spec = self._spec(handle, cgroup.name if cgroup else "")
            if self._zygote is None or not self._zygote.alive:
                self._zygote = ZygoteClient()
            spawned = self._zygote.spawn(spec)
        except BaseException:
            if cgroup is not None:
                cgroup.destroy()
            raise
        worker = WorkerProcess(spawned, handle.name, cgroup, handle.grant.limits.cpu_seconds)
        return self._ready(handle, worker, sorted(spec["plan"]["disabled_layers"]))

    def _ready(self, handle: PluginHandle, worker: WorkerProcess, layers_off: list[str]) -> Worker:
        """Wait for the plugin's setup under the init timeout; record the start or the crash."""
        on_event = self._event_handler(handle, str(worker.pid))
        try:
            worker.wait_ready(handle.grant.limits.init_timeout_seconds, on_event)
        except PluginError as exc:
            self.record(
                "worker.crashed", handle.name, "deny", worker=str(worker.pid), error=str(exc)[:500]
            )
            raise
        self._callables[handle.name] = worker.callables
        self.record(
            "worker.started",
            handle.name,
            "info",
            worker=str(worker.pid),
            layers_off=layers_off,
        )
        return worker

    def _start_container(self, handle: PluginHandle) -> WorkerProcess:
        assert self._containers is not None
        if self.unsafe_disable_layers:
            layers = sorted(self.unsafe_disable_layers)
            self.record("unsafe", handle.name, "info", unsafe_disable_layers=layers)
        return self._containers.start(
            handle.grant, handle.store_dir, handle.manifest.entry, self._disabled_layers()
        )

    def _cgroup(self, handle: PluginHandle) -> CgroupSet | None:
        """A fresh cgroup set for one worker where this host can create them, else None.

        Without cgroups the pen falls back to rlimits (DESIGN.md, "Limits without
        root"); ``corral doctor`` says which is in force.
        """
        if "cgroups" in self._disabled_layers() or os.geteuid() != 0:
            return None
        found = cgroups.available()
        if not all(found.get(c) for c in ("memory", "pids", "cpu")):
            return None
        limits = handle.grant.limits
        return CgroupSet.create(
            f"{handle.name}-{uuid.uuid4().hex[:12]}",
            memory_mb=limits.memory_mb,
            processes=limits.processes,
            cpu_percent=limits.cpu_percent,
        )

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

    def _run_call(self, handle: PluginHandle, worker: Worker, call: Call) -> tuple[Any, Usage]:
        timeout = handle.grant.limits.call_timeout_seconds
        on_event = self._event_handler(handle, str(worker.pid))
        try:
            value, usage = worker.call(
                call, timeout, on_event, lambda m: self._host_call(handle, m)
            )
        except PluginError as exc:
            kind = "timeout" if type(exc).__name__ == "PluginTimeout" else "call.failed"
            if worker.dead:
                kind = kind if kind == "timeout" else "worker.crashed"
            decision = "deny" if isinstance(exc, PermissionDenied) or worker.dead else "info"
            self.record(
                kind,
                handle.name,
                decision,
                worker=str(worker.pid),
                callable=call.name,
                error=str(exc)[:500],
                error_type=type(exc).__name__,
            )
            raise
        self.record(
            "call.completed",
            handle.name,
            "allow",
            worker=str(worker.pid),
            callable=call.name,
            usage=usage.to_dict(),
        )
        return value, usage

    def _event_handler(self, handle: PluginHandle, worker: str) -> Callable[[Event], None]:
        def on_event(event: Event) -> None:
            kind = event.type if event.type in ("denied", "env.stripped") else "denied"
            decision = event.decision if event.decision in ("allow", "deny", "info") else "deny"
            self.record(
                kind, handle.name, decision, source="worker", worker=worker, **event.details
            )

        return on_event

    def _host_call(self, handle: PluginHandle, message: HostCall) -> Result:
        def audit(decision: str, requires: str) -> None:
            self.record(
                "hostcall", handle.name, decision, function=message.name, permission=requires
            )

        return self.functions.dispatch(handle.grant, message, audit)

    def _forget(self, handle: PluginHandle) -> None:
        with self._lock:
            self._handles.pop(handle.name, None)
        self.record("plugin.unloaded", handle.name, "info")

    def _check_network(self, granted: Grant) -> None:
        if granted.network == "restricted":
            raise SandboxUnavailable(
                "netproxy",
                f"plugin {granted.plugin!r} needs restricted networking (network:connect grants), "
                "which needs corral's filtering proxy; it is not available in this version",
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
    }
