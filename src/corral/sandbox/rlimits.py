"""Per-process resource limits: the bounds that hold even where cgroups do not exist.

rlimits are inherited by every child and cannot be raised again by an
unprivileged process, so once set in the pen they bind everything the plugin
starts. They cover what cgroups do not (CPU seconds, open files, file size,
core dumps) and, where the host cannot create cgroups, stand in for them
("Limits without root" in DESIGN.md):

* memory falls back to ``RLIMIT_AS``. Address space is not memory used: glibc
  reserves 64 MiB per thread arena and 8 MiB per thread stack without touching
  them, and numpy/BLAS reserve more. So the fallback allows
  ``AS_FACTOR * memory_mb + AS_HEADROOM_MB``: loose, but it still stops a
  runaway allocation well before the machine suffers.
* processes fall back to ``RLIMIT_NPROC``. The kernel counts it per uid *per
  user namespace*, so inside the pen's own user namespace it counts the pen's
  tasks only; it is ignored for root, hence applied after the uid drop.

Threads are tasks for both the pids cgroup and ``RLIMIT_NPROC``; a plugin
asking for ``processes: N`` gets ``N + THREAD_HEADROOM`` tasks so that
ordinary libraries that start a few threads keep working.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from corral.errors import SandboxUnavailable
from corral.policy.plan import EnforcementPlan

MIB = 1024 * 1024
AS_FACTOR = 2
AS_HEADROOM_MB = 512
THREAD_HEADROOM = 16


def task_limit(processes: int) -> int:
    """How many tasks (processes plus threads) ``processes: N`` allows."""
    return processes + THREAD_HEADROOM


def address_space_limit(memory_mb: int) -> int:
    """The ``RLIMIT_AS`` fallback for ``memory_mb``, in bytes."""
    return (AS_FACTOR * memory_mb + AS_HEADROOM_MB) * MIB


@dataclass(frozen=True)
class Rlimit:
    """One limit to set: soft and hard values of one ``resource.RLIMIT_*``."""

    name: str
    resource: int
    soft: int
    hard: int


def cgroup_in_force(plan: EnforcementPlan) -> bool:
    """Whether memory and processes are bounded by a cgroup (else the rlimit fallback).

    A cgroup the container engine made counts: the worker joins none itself.
    """
    return "cgroups" in plan.provided_layers or (
        plan.layer_on("cgroups") and bool(plan.cgroup_name)
    )


def planned(plan: EnforcementPlan) -> tuple[Rlimit, ...]:
    """The limits ``plan`` calls for; a 0 in the plan means none from that field."""
    limits = [Rlimit("core", resource.RLIMIT_CORE, 0, 0)]
    if plan.cpu_seconds:
        # SIGXCPU at the soft limit (catchable, names the cause), SIGKILL a second later.
        limits.append(Rlimit("cpu", resource.RLIMIT_CPU, plan.cpu_seconds, plan.cpu_seconds + 1))
    if plan.open_files:
        limits.append(_both("nofile", resource.RLIMIT_NOFILE, plan.open_files))
    if plan.file_size_mb:
        limits.append(_both("fsize", resource.RLIMIT_FSIZE, plan.file_size_mb * MIB))
    if not cgroup_in_force(plan):
        if plan.memory_mb:
            limits.append(_both("as", resource.RLIMIT_AS, address_space_limit(plan.memory_mb)))
        if plan.processes:
            limits.append(_both("nproc", resource.RLIMIT_NPROC, task_limit(plan.processes)))
    return tuple(limits)


def _both(name: str, which: int, value: int) -> Rlimit:
    return Rlimit(name, which, value, value)


def apply(plan: EnforcementPlan) -> None:
    """Set every planned limit, never above the limit already in force."""
    for limit in planned(plan):
        _set(limit)


def _set(limit: Rlimit) -> None:
    """setrlimit, clamped to the current hard limit (which only root could raise)."""
    _, current_hard = resource.getrlimit(limit.resource)
    hard = limit.hard if current_hard == resource.RLIM_INFINITY else min(limit.hard, current_hard)
    soft = min(limit.soft, hard)
    try:
        resource.setrlimit(limit.resource, (soft, hard))
    except (OSError, ValueError) as exc:
        raise SandboxUnavailable("rlimits", f"setting RLIMIT_{limit.name.upper()}: {exc}") from exc
