"""Resource limits a plugin asks for, and clamping them to a tier's ceiling.

Defaults follow seed 003 (memory 500 MB, CPU 80 % of one core, file size
100 MB, init 30 s, hook 5 s, call 300 s). The others are corral's choices:
``cpu_seconds`` 300 (CPU time of one worker over its life, as long as one
default call may run), ``processes`` 32 (a pool of subprocesses with room to
spare; threads count against the pids cgroup, so this is also the thread
headroom), ``open_files`` 256 (a few sockets, a SQLite database and its
journal, the interpreter's own), ``disk_mb`` 100 (what community allows),
``max_connections`` 16 (seed 004's connection limit: open connections through
the filtering proxy at once, per plugin; a few parallel HTTP clients).

Asking above a tier ceiling is not an error: the value is clamped and the
reason recorded, so the same manifest runs under every tier and the plugin
author can see what was cut.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Clamp = tuple[str, float, float, str]
"""(limit name, asked, given, reason)."""

UNITS = {
    "memory_mb": "MB",
    "cpu_seconds": "s",
    "cpu_percent": "%",
    "call_timeout_seconds": "s",
    "init_timeout_seconds": "s",
    "hook_timeout_seconds": "s",
    "processes": "",
    "open_files": "",
    "file_size_mb": "MB",
    "disk_mb": "MB",
    "max_connections": "",
}


class ResourceLimits(BaseModel):
    """Size and time bounds for one plugin's worker; every field is positive."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    memory_mb: int = Field(default=500, gt=0, le=1_048_576, description="memory used (cgroup), MB")
    cpu_seconds: int = Field(default=300, gt=0, le=31_536_000, description="CPU time per worker")
    cpu_percent: int = Field(default=80, gt=0, le=6_400, description="share of one core")
    call_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400, description="one call")
    init_timeout_seconds: float = Field(default=30.0, gt=0, le=86_400, description="setup()")
    hook_timeout_seconds: float = Field(default=5.0, gt=0, le=86_400, description="one hook")
    processes: int = Field(default=32, gt=0, le=65_536, description="processes and threads")
    open_files: int = Field(default=256, gt=0, le=1_048_576, description="file descriptors")
    file_size_mb: int = Field(default=100, gt=0, le=1_048_576, description="largest file written")
    disk_mb: int = Field(default=100, gt=0, le=16_777_216, description="work dir and private tmp")
    max_connections: int = Field(
        default=16, gt=0, le=65_536, description="open network connections (restricted proxy)"
    )


def clamp(
    asked: ResourceLimits, ceiling: ResourceLimits, tier: str
) -> tuple[ResourceLimits, tuple[Clamp, ...]]:
    """Each limit no higher than the ceiling, with a reason for every cut."""
    given: dict[str, float] = {}
    cuts: list[Clamp] = []
    for name in ResourceLimits.model_fields:
        want, top = getattr(asked, name), getattr(ceiling, name)
        given[name] = min(want, top)
        if want > top:
            how = "asked" if name in asked.model_fields_set else "default"
            unit = f" {UNITS[name]}" if UNITS[name] else ""
            reason = f"{how} {want:g}{unit} is above the {tier} tier ceiling of {top:g}{unit}"
            cuts.append((name, want, top, reason))
    return ResourceLimits.model_validate(given), tuple(cuts)
