"""Turn a grant into an enforcement plan: the paths, ports and numbers of one pen.

The grant speaks in globs and permissions; the kernel layers need directories,
ports and byte counts. This module is the translation, plus the baseline every
pen allows so ordinary code just works (DESIGN.md, "What a pen allows with no
grant"). Globs reach Landlock as their longest literal directory prefix, a
coarser rule than the glob itself; the guard inside the pen checks the glob.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import os
import re
import sys
import sysconfig
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import corral
from corral.policy import Grant
from corral.policy.decision import Request
from corral.policy.plan import PEN_PLUGIN_DIR, PEN_PROXY_PORT, PEN_WORK_DIR, EnforcementPlan

PROC_SELF = (
    "cgroup",
    "cmdline",
    "comm",
    "fd",
    "fdinfo",
    "io",
    "limits",
    "maps",
    "net",
    "stat",
    "statm",
    "status",
)
"""What a pen may read of its own ``/proc/self``: never the directory whole.

The pen's mount namespace is a copy of the host's, so ``mountinfo``, ``mounts``
and ``mountstats`` name CORRAL_HOME, store digests and other containers' dirs;
even a pen root of its own would still show its bind mounts' source paths.
``task`` is left out because each thread's dir holds the same tables. The
rules are made in the pen's pid 1 and bind to those inodes, so a process the
pen forks later has no readable ``/proc/self`` at all (it can still read
these entries through ``/proc/1``): deny by default, and nothing ordinary
code does in a child needs it (subprocess closes fds with close_range).
"""
SYSTEM_READ = (
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
    "/usr/local/lib",
    "/usr/share/zoneinfo",
    "/usr/share/ca-certificates",
    "/usr/share/locale",
    "/usr/lib/locale",
    "/usr/lib/ssl",
    "/etc/ssl",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
    *(f"/proc/self/{entry}" for entry in PROC_SELF),
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/sys/devices/system/cpu",
)
SYSTEM_WRITE = ("/tmp", "/dev/shm", "/dev/null")
PROXY_URL = f"http://127.0.0.1:{PEN_PROXY_PORT}"
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|AUTH)", re.IGNORECASE)
PEN_UID_BASE = 200_000
PEN_UID_SPAN = 100_000


@dataclass(frozen=True)
class PenLayout:
    """Where a worker's directories are on the host and inside the pen."""

    plugin_source: str
    work_source: str
    mounted: bool

    @property
    def plugin_dir(self) -> str:
        return PEN_PLUGIN_DIR if self.mounted else self.plugin_source

    @property
    def work_dir(self) -> str:
        return PEN_WORK_DIR if self.mounted else self.work_source


def pen_uid(plugin: str) -> int:
    """A stable unprivileged uid per plugin, so two plugins never share an identity."""
    return PEN_UID_BASE + zlib.crc32(plugin.encode()) % PEN_UID_SPAN


@functools.cache
def interpreter_paths() -> tuple[str, ...]:
    """What the worker's interpreter reads: its prefixes, stdlib, site-packages, corral.

    Computed from the interpreter's configuration, not the host's ``sys.path``,
    which may hold test directories or the application's own code. Computed once:
    it cannot change while the host runs, and sysconfig made it a cost of every pen.
    """
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    roots.add(str(Path(corral.__file__).resolve().parent.parent))
    return tuple(sorted(p for p in roots if os.path.exists(p)))


def baseline() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(read, write) paths every pen allows without a grant.

    The plugin's own directory is not here: its code is allowed by the worker
    (``.py`` files only), and its data needs ``file:read`` so a ``deny`` on
    ``data/secrets/**`` means something.
    """
    return (*interpreter_paths(), *SYSTEM_READ), SYSTEM_WRITE


def literal_prefix(pattern: str) -> str:
    """The longest leading directory of a glob that contains no wildcard."""
    parts: list[str] = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts) or "/"


@functools.cache
def elf_loaders() -> tuple[str, ...]:
    """The dynamic loader(s): the kernel opens it with exec intent for every binary."""
    found: set[str] = set()
    for pattern in ("/lib64/ld-linux*.so*", "/lib/ld-linux*.so*", "/lib/*-linux-gnu/ld-linux*.so*"):
        for path in glob.glob(pattern):
            found.update((path, os.path.realpath(path)))
    return tuple(sorted(found))


def plugin_files(grant: Grant, layout: PenLayout) -> tuple[str, ...]:
    """Pen paths of the plugin's files it may read: its code, and data its grant allows.

    The store copy is immutable, so this list is exact for the worker's life;
    a file under ``deny`` never gets a kernel read rule.
    """
    root = Path(layout.plugin_source)
    allowed: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        pen_path = f"{layout.plugin_dir}/{path.relative_to(root).as_posix()}"
        if path.suffix == ".py" or grant.check(Request("file", "read", pen_path)).allowed:
            allowed.append(pen_path)
    return tuple(allowed)


def outside_plugin(globs: Iterable[str], plugin_dir: str) -> list[str]:
    """Literal prefixes of read globs that lie outside the plugin dir."""
    prefixes = (literal_prefix(g) for g in globs)
    return [p for p in prefixes if p != plugin_dir and not p.startswith(plugin_dir + "/")]


def build_env(grant: Grant, host_env: Mapping[str, str], work_dir: str) -> dict[str, str]:
    """The pen's environment, rebuilt from scratch: fixed basics plus granted names.

    A secret-looking name passes only when granted by its exact name, never by
    a wildcard such as ``env:read=AWS_*``. At network level ``restricted`` the
    proxy variables point at the pen's forwarder (an HTTP proxy that also
    speaks SOCKS5), whatever the host's own say.
    """
    env = {
        "HOME": work_dir,
        "USER": "plugin",
        "LANG": "C.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    exact = {p.scope for p in grant.permissions if p.domain == "env" and p.scope}
    for name, value in host_env.items():
        if name in env or not grant.check(Request("env", "read", name)).allowed:
            continue
        if SECRET_NAME.search(name) and name not in exact:
            continue
        env[name] = value
    if grant.network == "restricted":
        env.update(dict.fromkeys(PROXY_VARIABLES, PROXY_URL))
    return env


def connect_ports(targets: Iterable[str]) -> tuple[int, ...]:
    """Ports named by ``host:port`` targets (a range ``a-b`` expands; ``*`` gives none)."""
    ports: set[int] = set()
    for target in targets:
        port = target.rsplit(":", 1)[-1]
        if "-" in port:
            low, high = (int(x) for x in port.split("-", 1))
            ports.update(range(low, min(high, low + 1024) + 1))
        elif port.isdigit():
            ports.add(int(port))
    return tuple(sorted(ports))


def listen_ports(grant: Grant) -> tuple[int, ...]:
    """Ports of ``network:listen`` grants (inbound stays inside the pen: its netns has only lo)."""
    targets = [
        str(p.scope)
        for p in grant.permissions
        if p.domain == "network" and p.grants("listen") and p.scope
    ]
    return connect_ports(targets)


def tcp_ports(grant: Grant) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(connect, bind) ports for Landlock.

    At ``restricted`` every outbound connection goes to the forwarder, so that
    is the one connect port besides the plugin's own listeners; the granted
    ports themselves mean nothing inside a namespace with no route.
    """
    own = listen_ports(grant)
    if grant.network == "restricted":
        ports = tuple(sorted({PEN_PROXY_PORT, *own}))
        return ports, ports
    if grant.network == "none":
        return (), ()
    return connect_ports(grant.connect_targets()), own


def build_plan(
    grant: Grant,
    layout: PenLayout,
    *,
    host_env: Mapping[str, str],
    cgroup_name: str = "",
    disabled_layers: Iterable[str] = (),
) -> tuple[EnforcementPlan, tuple[str, ...], tuple[str, ...]]:
    """The plan for one worker, plus the baseline (read, write) lists for the guard."""
    bound = grant.with_roots(layout.plugin_dir, layout.work_dir)
    read, write = baseline()
    limits = grant.limits
    plan = EnforcementPlan(
        read_paths=_unique(
            [
                *read,
                *plugin_files(bound, layout),
                *outside_plugin(bound.read_globs(), layout.plugin_dir),
            ]
        ),
        list_paths=(layout.plugin_dir,),
        write_paths=_unique([*write, *(literal_prefix(g) for g in bound.write_globs())]),
        exec_paths=_unique([*bound.exec_paths(), *(elf_loaders() if bound.exec_paths() else ())]),
        work_dir=layout.work_dir,
        plugin_dir=layout.plugin_dir,
        plugin_source=layout.plugin_source,
        work_source=layout.work_source,
        network=grant.network,
        tcp_connect_ports=tcp_ports(bound)[0],
        tcp_bind_ports=tcp_ports(bound)[1],
        memory_mb=limits.memory_mb,
        cpu_seconds=limits.cpu_seconds,
        cpu_percent=limits.cpu_percent,
        processes=limits.processes,
        open_files=limits.open_files,
        file_size_mb=limits.file_size_mb,
        disk_mb=limits.disk_mb,
        env=tuple(sorted(build_env(bound, host_env, layout.work_dir).items())),
        pen_uid=pen_uid(grant.plugin),
        pen_gid=pen_uid(grant.plugin),
        cgroup_name=cgroup_name,
        disabled_layers=frozenset(disabled_layers),
    )
    return plan, read, write


def _unique(paths: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for p in paths:
        if p and not fnmatch.filter([p], "*[*?[]*"):
            seen.setdefault(os.path.normpath(p), None)
    return tuple(seen)
