"""What this machine can enforce, found by trying it: for ``corral doctor`` and fail-secure checks.

A kernel feature is only known to work once it has worked: a config option
can be built in yet disabled by a sysctl, an LSM list or a container runtime.
So every namespace is tried for real in a throwaway child (as the same user
the pens will run as), and the host calls :func:`require` before it spawns a
worker, so a plan this machine cannot honour is refused up front with the
layer and the kernel requirement named, never silently weakened.

Results are cached per process; the probe forks a few short-lived children
once.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from corral.errors import SandboxUnavailable
from corral.policy.plan import PEN_PROXY_PORT, EnforcementPlan
from corral.sandbox import _libc, cgroups, landlock, mounts, namespaces, rlimits, seccomp

NOBODY = 65534
_CRASHED = 255


@dataclass(frozen=True)
class LayerStatus:
    """One layer on this machine: usable or not, what was found, what it needs."""

    layer: str
    available: bool
    detail: str
    requirement: str


@functools.cache
def probe() -> tuple[LayerStatus, ...]:
    """Every layer's status on this machine (cached: the forks happen once per process)."""
    layers = (
        _root(),
        *(_namespace(layer) for layer in namespaces.FLAGS),
        _procfs(),
        _landlock(),
        _seccomp(),
        *_cgroups(),
        *_limits(),
    )
    return (*layers, *_network({s.layer: s for s in layers}))


def status(layer: str) -> LayerStatus:
    """The probed status named ``layer`` (KeyError for a name probe does not know)."""
    return {s.layer: s for s in probe()}[layer]


def require(plan: EnforcementPlan) -> None:
    """Raise SandboxUnavailable for the first layer ``plan`` needs that this machine lacks."""
    as_user = os.geteuid() != 0
    for layer, name in _needed(plan):
        if as_user and layer in namespaces.FLAGS and not plan.layer_on("userns"):
            raise SandboxUnavailable(layer, "without root, namespaces need the userns layer on")
        found = status(name)
        if not found.available:
            raise SandboxUnavailable(layer, f"{found.detail}; needs {found.requirement}")


def _needed(plan: EnforcementPlan) -> Iterator[tuple[str, str]]:
    """(plan layer, probe status) pairs the plan depends on, in confinement order."""
    for layer in namespaces.wanted(plan, user=True):
        yield layer, layer
    if plan.layer_on("mountns") and plan.layer_on("pidns"):
        yield "pidns", "procfs"
    if rlimits.cgroup_in_force(plan):
        wants = {"memory": plan.memory_mb, "pids": plan.processes, "cpu": plan.cpu_percent}
        yield from (("cgroups", f"cgroups.{c}") for c, value in wants.items() if value)
    for layer in ("landlock", "seccomp"):
        if plan.layer_on(layer):
            yield layer, layer


def _in_child(attempt: Callable[[], None]) -> int:
    """Run ``attempt`` in a throwaway child; its errno (0: it worked)."""
    pid = os.fork()
    if pid == 0:
        code = _CRASHED
        try:
            attempt()
            code = 0
        except OSError as exc:
            code = exc.errno or _CRASHED
        except SandboxUnavailable as exc:
            cause = exc.__cause__
            code = cause.errno or _CRASHED if isinstance(cause, OSError) else _CRASHED
        finally:
            os._exit(code)
    _, status_ = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status_) if os.WIFEXITED(status_) else _CRASHED


def _unshare(flags: int) -> None:
    _libc.syscall("unshare", ctypes.c_int(flags))


def _try_namespace(layer: str) -> None:
    if os.geteuid() == 0 and layer == "userns":
        namespaces.become(NOBODY, NOBODY)  # as root, the pen creates its userns unprivileged
    user = namespaces.CLONE_NEWUSER if os.geteuid() != 0 else 0
    _unshare(user | namespaces.FLAGS[layer])


def _namespace(layer: str) -> LayerStatus:
    code = _in_child(functools.partial(_try_namespace, layer))
    return LayerStatus(layer, code == 0, _outcome("unshare", code), namespaces.REQUIREMENTS[layer])


def _try_procfs() -> None:
    """A fresh /proc in a new pid namespace, as the pen will mount it."""
    if os.geteuid() == 0:
        _unshare(namespaces.CLONE_NEWNS | namespaces.CLONE_NEWPID)
    else:
        uid, gid = os.getuid(), os.getgid()
        _unshare(namespaces.CLONE_NEWUSER | namespaces.CLONE_NEWNS | namespaces.CLONE_NEWPID)
        namespaces.map_ids(uid, gid)

    def mount_fresh_proc() -> None:
        mounts.mount(None, "/", None, mounts.MS_REC | mounts.MS_PRIVATE)
        mounts.mount_proc()

    code = _in_child(mount_fresh_proc)  # the new pid namespace exists for children only
    if code:
        raise OSError(code, os.strerror(code))


def _procfs() -> LayerStatus:
    code = _in_child(_try_procfs)
    requirement = "root, or a host /proc with nothing over-mounted (mount_too_revealing)"
    return LayerStatus("procfs", code == 0, _outcome("fresh /proc mount", code), requirement)


def _outcome(what: str, code: int) -> str:
    if code == 0:
        return f"{what} works"
    if code == _CRASHED:
        return f"{what}: the probe child failed"
    return f"{what} refused: {os.strerror(code)}"


def _root() -> LayerStatus:
    root = os.geteuid() == 0
    detail = (
        "root: pens drop to an unprivileged uid in their own user namespace; cgroups usable"
        if root
        else "not root: pens rely on a user namespace; memory and processes use rlimits"
    )
    return LayerStatus("root", root, detail, "optional; needed for cgroups and fixed pen uids")


def _landlock() -> LayerStatus:
    abi = landlock.abi_version()
    detail = f"ABI {abi}" if abi else "not offered by this kernel"
    return LayerStatus("landlock", abi >= 1, detail, landlock.REQUIREMENT.removeprefix("needs "))


def _seccomp() -> LayerStatus:
    ok = seccomp.available()
    detail = "filters with ERRNO and KILL_PROCESS" if ok else "filter mode unavailable"
    return LayerStatus("seccomp", ok, detail, "Linux 3.17+ with CONFIG_SECCOMP_FILTER")


def _network(found: dict[str, LayerStatus]) -> Iterator[LayerStatus]:
    """Which network levels this machine can enforce, and by what (derived, no new probes).

    none, internal and restricted all stand on the pen's own network namespace
    (restricted's only way out is the host's proxy through a passed socket);
    Landlock TCP rules (ABI 4+) and seccomp's socket-family filter narrow them
    further. full is the host's network: nothing to enforce, only to audit.
    """
    netns = found["netns"].available
    abi = landlock.abi_version()
    ports = (
        f"TCP connect/bind only to the forwarder's port (Landlock ABI {abi})"
        if abi >= 4
        else "no Landlock TCP rules on this kernel (ABI 4+): the namespace alone holds"
    )
    sockets = "seccomp: no UDP, no AF_UNIX sockets" if found["seccomp"].available else "no seccomp"
    needs = "the netns layer: " + namespaces.REQUIREMENTS["netns"]
    yield LayerStatus(
        "network.none",
        netns,
        f"an empty network namespace, no interface up; {sockets}, no inet sockets at all",
        needs,
    )
    yield LayerStatus(
        "network.internal",
        netns,
        f"loopback only, inside the pen's own namespace; {sockets}",
        needs,
    )
    yield LayerStatus(
        "network.restricted",
        netns,
        "no route out; the host's filtering proxy (SOCKS5, HTTP CONNECT, plain HTTP) through a "
        f"passed socket, a forwarder on the pen's 127.0.0.1:{PEN_PROXY_PORT}; {ports}; {sockets}",
        needs,
    )
    yield LayerStatus(
        "network.full",
        True,
        "the host's network (enterprise tier only), audited at worker start",
        "nothing (no network namespace)",
    )


def _cgroups() -> Iterator[LayerStatus]:
    bases = cgroups.base_dirs()
    for controller, ok in cgroups.available().items():
        where = str(bases.get(controller, "not mounted"))
        detail = f"v1 at {where}" + ("" if ok else " (not writable)")
        yield LayerStatus(f"cgroups.{controller}", ok, detail, cgroups.REQUIREMENT)
    v2 = sorted(cgroups.unified_controllers())
    detail = f"v2 controllers {v2}; detected, corral uses v1" if v2 else "no v2 controllers"
    yield LayerStatus("cgroups.v2", bool(v2), detail, "informational")


def _limits() -> Iterator[LayerStatus]:
    usable = cgroups.available()
    memory = (
        "cgroup memory.limit_in_bytes (memory used)"
        if usable["memory"]
        else f"RLIMIT_AS fallback: {rlimits.AS_FACTOR} x memory_mb + "
        f"{rlimits.AS_HEADROOM_MB} MiB of address space"
    )
    tasks = (
        "cgroup pids.max"
        if usable["pids"]
        else "RLIMIT_NPROC fallback, counted in the pen's user namespace"
    )
    headroom = f"; processes + {rlimits.THREAD_HEADROOM} tasks for threads"
    yield LayerStatus("limit.memory", True, memory, "cgroups for the precise limit")
    yield LayerStatus("limit.processes", True, tasks + headroom, "cgroups for the precise limit")
