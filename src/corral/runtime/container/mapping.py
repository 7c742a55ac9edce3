"""The grant, mapped onto the engine: one enforcement plan, expressed as run options.

Everything here derives from the same ``EnforcementPlan`` the kernel pen
applies, so one policy core decides for both backends. The engine holds the
layers it builds (``PROVIDED``); the worker inside still applies rlimits,
Landlock, corral's seccomp filter and the guard itself. A plan whose
``disabled_layers`` names one of ``ENGINE_LAYERS`` (the sabotage check's
``unsafe_disable_layers``, audited as ``unsafe``) loses that option here, so the
attack tests can show each one is caught.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from corral.errors import SandboxUnavailable
from corral.policy.plan import PEN_PLUGIN_DIR, PEN_WORK_DIR, EnforcementPlan
from corral.runtime.container.config import ContainerConfig
from corral.runtime.container.profile import profile_for
from corral.sandbox.namespaces import HOSTNAME
from corral.sandbox.rlimits import MIB, task_limit

PROVIDED = frozenset({"userns", "mountns", "pidns", "ipcns", "utsns", "netns", "cgroups"})
IPC_DIR = "/run/corral/ipc"
SECCOMP_FILE = "seccomp.json"
CHANNEL = f"{IPC_DIR}/channel.sock"
ENGINE_NETWORK = {"none": "none", "internal": "none", "restricted": "none", "full": "host"}
"""The engine's ``none`` has loopback only, which is what ``internal`` means;
corral's seccomp filter still refuses inet sockets at ``none``. ``restricted`` is
the same loopback-only container plus the proxy's dispenser, handed over the IPC
socket (``worker.py``): the forwarder inside listens on that loopback, and the
dispenser is its only way out."""
INIT_TASKS = 1
"""The engine's init (tini) is one more task in the container's pids cgroup."""
_DEFAULT_TMP_MB = 64


def run_options(
    plan: EnforcementPlan,
    config: ContainerConfig,
    ipc_source: str,
    labels: dict[str, str],
    engine_limits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.run`` that enforce ``plan``.

    ``engine_limits`` are the engine's own hard ``nproc``/``nofile`` (Podman's
    only, see ``engine_limits.py``): passed so the engine does not write higher
    defaults that runc cannot set.
    """
    from docker.types import Mount, Ulimit

    if plan.network not in ENGINE_NETWORK:
        raise SandboxUnavailable(
            "netproxy", f"network level {plan.network!r} has no container mapping"
        )
    uid, gid = plan.pen_uid, plan.pen_gid
    disk = plan.disk_mb or _DEFAULT_TMP_MB

    def on(layer: str) -> bool:
        """Whether the plan keeps an engine option; only a sabotage run switches one off."""
        return layer not in plan.disabled_layers

    options: dict[str, Any] = {
        "read_only": on("engine-readonly"),
        "network_mode": ENGINE_NETWORK[plan.network] if on("engine-network") else "host",
        "security_opt": [f"seccomp={_seccomp(plan, config, ipc_source, on('engine-seccomp'))}"],
        "init": True,
        "ipc_mode": "private",
        "hostname": HOSTNAME,
        "environment": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        "tmpfs": {
            PEN_WORK_DIR: _work_tmpfs(disk, uid, gid, config, on("engine-tmpfs")),
            "/tmp": f"size={disk}m,mode=1777" if on("engine-tmpfs") else "mode=1777",
        },
        "mounts": [
            Mount(PEN_PLUGIN_DIR, plan.plugin_source, type="bind", read_only=True),
            Mount(IPC_DIR, ipc_source, type="bind", read_only=True),
        ],
        "ulimits": _ulimits(plan, Ulimit, engine_limits or {}, on("engine-ulimits")),
        "labels": labels,
        "working_dir": PEN_WORK_DIR,
        "detach": True,
    }
    if on("engine-privileges"):  # off: the image's root, Docker's default capabilities
        options["user"] = f"{uid}:{gid}"
        options["cap_drop"] = ["ALL"]
        options["security_opt"].insert(0, "no-new-privileges")
    if on("engine-tmpfs"):  # off: the engine's default /dev/shm
        options["shm_size"] = f"{min(disk, _DEFAULT_TMP_MB)}m"
    if plan.memory_mb and on("engine-memory"):
        options["mem_limit"] = f"{plan.memory_mb}m"
        options["memswap_limit"] = f"{plan.memory_mb}m"  # swap equal to memory: none extra
    if plan.processes and on("engine-pids"):
        options["pids_limit"] = task_limit(plan.processes) + INIT_TASKS
    if plan.cpu_percent and on("engine-cpu"):
        options["nano_cpus"] = plan.cpu_percent * 10_000_000  # percent of one CPU
    if config.runtime:
        options["runtime"] = config.runtime
    return options


def _work_tmpfs(disk: int, uid: int, gid: int, config: ContainerConfig, capped: bool) -> str:
    """``$WORK`` owned by the pen uid, mode 0700, as under Docker.

    Podman 4.3 refuses ``uid=``/``gid=`` and its compatible API drops ``mode=``
    (the tmpfs came up root-owned 0755: the worker could not write it); its own
    ``U`` option chowns the tmpfs to the container's user, and then keeps the mode.
    """
    size = f"size={disk}m," if capped else ""
    if config.engine == "podman":
        return f"{size}mode=0700,U"
    return f"{size}uid={uid},gid={gid},mode=0700"


def _seccomp(plan: EnforcementPlan, config: ContainerConfig, ipc_source: str, on: bool) -> str:
    """The profile itself (Docker's API takes the JSON), or for Podman a file holding it.

    Podman's compatible API opens the value as a path. The file is written in the
    worker's private IPC directory and removed once the container is created.
    Switched off (sabotage), ``unconfined``: no filter at all, not the engine's default.
    """
    if not on:
        return "unconfined"
    profile = profile_for(plan.network)
    if config.engine != "podman":
        return profile
    path = os.path.join(ipc_source, SECCOMP_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(profile)
    return path


def _ulimits(plan: EnforcementPlan, ulimit: Any, engine: Mapping[str, int], on: bool) -> list[Any]:
    """The plan's rlimits; with ``engine`` (Podman), nproc and nofile never above its own.

    Switched off (sabotage), only the engine's own values remain: Podman needs them
    to start a container at all, and they are no bound of the plan's.
    """
    limits = [ulimit(name="core", soft=0, hard=0)] if on else []
    plan_files = plan.open_files if on else 0
    open_files = min(filter(None, (plan_files, engine.get("nofile", 0))), default=0)
    if open_files:
        limits.append(ulimit(name="nofile", soft=open_files, hard=open_files))
    if "nproc" in engine:  # not a barrier: the engine's own value (the pids cgroup bounds)
        limits.append(ulimit(name="nproc", soft=engine["nproc"], hard=engine["nproc"]))
    if not on:
        return limits
    if plan.file_size_mb:
        size = plan.file_size_mb * MIB
        limits.append(ulimit(name="fsize", soft=size, hard=size))
    if plan.cpu_seconds:
        limits.append(ulimit(name="cpu", soft=plan.cpu_seconds, hard=plan.cpu_seconds + 1))
    return limits
