"""The grant, mapped onto the engine: one enforcement plan, expressed as run options.

Everything here derives from the same ``EnforcementPlan`` the kernel pen
applies, so one policy core decides for both backends. The engine holds the
layers it builds (``PROVIDED``); the worker inside still applies rlimits,
Landlock, corral's seccomp filter and the guard itself.
"""

from __future__ import annotations

import os
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
    plan: EnforcementPlan, config: ContainerConfig, ipc_source: str, labels: dict[str, str]
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.run`` that enforce ``plan``."""
    from docker.types import Mount, Ulimit

    if plan.network not in ENGINE_NETWORK:
        raise SandboxUnavailable(
            "netproxy", f"network level {plan.network!r} has no container mapping"
        )
    uid, gid = plan.pen_uid, plan.pen_gid
    disk = plan.disk_mb or _DEFAULT_TMP_MB
    options: dict[str, Any] = {
        "user": f"{uid}:{gid}",
        "read_only": True,
        "network_mode": ENGINE_NETWORK[plan.network],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges", f"seccomp={_seccomp(plan, config, ipc_source)}"],
        "init": True,
        "ipc_mode": "private",
        "hostname": HOSTNAME,
        "environment": {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        "tmpfs": {
            PEN_WORK_DIR: _work_tmpfs(disk, uid, gid, config),
            "/tmp": f"size={disk}m,mode=1777",
        },
        "shm_size": f"{min(disk, _DEFAULT_TMP_MB)}m",
        "mounts": [
            Mount(PEN_PLUGIN_DIR, plan.plugin_source, type="bind", read_only=True),
            Mount(IPC_DIR, ipc_source, type="bind", read_only=True),
        ],
        "ulimits": _ulimits(plan, Ulimit),
        "labels": labels,
        "working_dir": PEN_WORK_DIR,
        "detach": True,
    }
    if plan.memory_mb:
        options["mem_limit"] = f"{plan.memory_mb}m"
        options["memswap_limit"] = f"{plan.memory_mb}m"  # swap equal to memory: none extra
    if plan.processes:
        options["pids_limit"] = task_limit(plan.processes) + INIT_TASKS
    if plan.cpu_percent:
        options["nano_cpus"] = plan.cpu_percent * 10_000_000  # percent of one CPU
    if config.runtime:
        options["runtime"] = config.runtime
    return options


def _work_tmpfs(disk: int, uid: int, gid: int, config: ContainerConfig) -> str:
    """``$WORK`` owned by the pen uid; Podman 4.3 refuses ``uid=``, so there it is 1777
    (the container has that one uid, and the engine's user namespace is its own)."""
    if config.engine == "podman":
        return f"size={disk}m,mode=1777"
    return f"size={disk}m,uid={uid},gid={gid},mode=0700"


def _seccomp(plan: EnforcementPlan, config: ContainerConfig, ipc_source: str) -> str:
    """The profile itself (Docker's API takes the JSON), or for Podman a file holding it.

    Podman's compatible API opens the value as a path. The file is written in the
    worker's private IPC directory and removed once the container is created.
    """
    profile = profile_for(plan.network)
    if config.engine != "podman":
        return profile
    path = os.path.join(ipc_source, SECCOMP_FILE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(profile)
    return path


def _ulimits(plan: EnforcementPlan, ulimit: Any) -> list[Any]:
    limits = [ulimit(name="core", soft=0, hard=0)]
    if plan.open_files:
        limits.append(ulimit(name="nofile", soft=plan.open_files, hard=plan.open_files))
    if plan.file_size_mb:
        size = plan.file_size_mb * MIB
        limits.append(ulimit(name="fsize", soft=size, hard=size))
    if plan.cpu_seconds:
        limits.append(ulimit(name="cpu", soft=plan.cpu_seconds, hard=plan.cpu_seconds + 1))
    return limits
