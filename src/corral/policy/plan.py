"""The enforcement plan: plain data that the kernel layers consume.

The policy core decides *what* a plugin may do; the sandbox layers decide
*how* the kernel holds it to that. This record is the hand-over between
them. It is built once per worker on the host side, shipped to the zygote
as msgpack, and applied in the child before plugin code is imported, so it
holds only primitive values (str, int, bool, tuples) and no behaviour.

Paths are absolute and as seen from *inside* the pen (after mounts), except the
``*_source`` fields, which are host paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

NETWORK_LEVELS = ("none", "internal", "restricted", "full")

LAYERS = (
    "session",  # setsid, fd cleanup, env rebuilt from scratch
    "userns",
    "mountns",
    "pidns",
    "ipcns",
    "utsns",
    "netns",
    "rlimits",
    "cgroups",
    "landlock",
    "seccomp",
    "guard",
)

ENGINE_LAYERS = (
    "engine-readonly",  # the container's root filesystem read-only
    "engine-network",  # network mode none (host when switched off)
    "engine-seccomp",  # corral's generated profile (unconfined when switched off)
    "engine-privileges",  # the pen uid, cap_drop ALL and no-new-privileges, together
    "engine-memory",  # memory = memory+swap = memory_mb
    "engine-pids",  # the pids limit
    "engine-cpu",  # nano_cpus from cpu_percent
    "engine-ulimits",  # the plan's rlimits as the engine's ulimits
    "engine-tmpfs",  # the size caps of $WORK, /tmp and /dev/shm
)
"""A container engine's run options, switchable for the sabotage check only.

They exist only as ``unsafe_disable_layers`` names (audited as ``unsafe``): no
manifest or policy field reaches them. ``runtime/container/mapping.py`` drops or
loosens the option each one names; a kernel pen has none of them.
"""

DISABLEABLE_LAYERS = LAYERS + ENGINE_LAYERS


@dataclass(frozen=True)
class EnforcementPlan:
    """What one worker's pen allows, resolved to absolute paths, ports and numbers."""

    # Filesystem (Landlock + guard). Directories cover everything beneath them.
    # ``list_paths`` may be listed (names only) but grant no file contents: the
    # plugin dir is listed this way and its readable files named one by one in
    # ``read_paths``, so a ``deny`` inside it holds at the kernel too.
    read_paths: tuple[str, ...] = ()
    list_paths: tuple[str, ...] = ()
    write_paths: tuple[str, ...] = ()
    exec_paths: tuple[str, ...] = ()
    work_dir: str = ""
    plugin_dir: str = ""
    # Host-side sources of the two directories above. With the mount layer on,
    # the pen bind-mounts plugin_source read-only at plugin_dir and work_source
    # read-write at work_dir (both under a private tmpfs on /run/corral); with it
    # off, the pen sees the sources directly and the *_dir fields equal them.
    plugin_source: str = ""
    work_source: str = ""
    # Network (netns + Landlock TCP rules + seccomp socket families).
    network: str = "none"
    tcp_connect_ports: tuple[int, ...] = ()
    tcp_bind_ports: tuple[int, ...] = ()
    # Resource limits; 0 means "no limit from this field".
    memory_mb: int = 0
    cpu_seconds: int = 0
    cpu_percent: int = 0
    processes: int = 0
    open_files: int = 0
    file_size_mb: int = 0
    disk_mb: int = 0
    # Environment the plugin starts with (rebuilt from scratch).
    env: tuple[tuple[str, str], ...] = ()
    # Identity the pen runs as when the host is root (ignored otherwise).
    pen_uid: int = 0
    pen_gid: int = 0
    # Cgroup directory names (relative) to join, created by the host; empty: none.
    cgroup_name: str = ""
    # Layers switched off for a sabotage test; always audited by the host.
    disabled_layers: frozenset[str] = field(default_factory=frozenset)
    # Layers an outer wall already holds (a container engine's namespaces and
    # cgroup): the worker does not apply them itself, and nothing is weaker for it.
    provided_layers: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.network not in NETWORK_LEVELS:
            raise ValueError(f"network level {self.network!r} not in {NETWORK_LEVELS}")
        unknown = set(self.disabled_layers) - set(DISABLEABLE_LAYERS)
        unknown |= set(self.provided_layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; known: {DISABLEABLE_LAYERS}")

    def layer_on(self, layer: str) -> bool:
        """Whether the worker applies ``layer`` itself (off when sabotaged or provided)."""
        return layer not in self.disabled_layers and layer not in self.provided_layers

    def to_wire(self) -> dict[str, Any]:
        """A msgpack-able dict; tuples become lists, the frozenset a sorted list."""
        data = asdict(self)
        data["disabled_layers"] = sorted(self.disabled_layers)
        data["provided_layers"] = sorted(self.provided_layers)
        data["env"] = [list(kv) for kv in self.env]
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> EnforcementPlan:
        """Rebuild a plan from :meth:`to_wire` output, refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown plan fields {sorted(extra)}")
        values = dict(data)
        for name in ("read_paths", "list_paths", "write_paths", "exec_paths"):
            values[name] = tuple(values.get(name, ()))
        for name in ("tcp_connect_ports", "tcp_bind_ports"):
            values[name] = tuple(int(p) for p in values.get(name, ()))
        values["env"] = tuple((str(k), str(v)) for k, v in values.get("env", ()))
        values["disabled_layers"] = frozenset(values.get("disabled_layers", ()))
        values["provided_layers"] = frozenset(values.get("provided_layers", ()))
        return cls(**values)


PEN_PROXY_PORT = 47128
"""Where a restricted pen's forwarder listens on the pen's own 127.0.0.1.

Fixed, because every pen has its own network namespace: no two pens share
it, and the plan can name it for Landlock before the worker runs. The
forwarder relays each connection to the host's filtering proxy.
"""

PEN_PLUGIN_DIR = "/run/corral/plugin"
PEN_WORK_DIR = "/run/corral/work"
