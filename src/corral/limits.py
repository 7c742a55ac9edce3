"""Every size and time bound corral itself relies on, in one frozen object.

Hostile input reaches corral through manifests, IPC frames, captured output and
audit details. Each of those parsers takes its bound from here, so a test can
shrink one bound and prove the parser refuses oversized input before it
allocates or parses it. These are corral's own bounds; a plugin's resource
limits (memory, CPU, processes) live in its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on what corral reads, buffers and waits for."""

    manifest_bytes: int = 256 * 1024
    frame_bytes: int = 16 * 1024 * 1024
    output_bytes: int = 64 * 1024
    log_line_bytes: int = 4096
    audit_detail_bytes: int = 16 * 1024
    error_message_chars: int = 2000
    traceback_chars: int = 8000
    worker_start_seconds: float = 10.0
    kill_grace_seconds: float = 0.5
    close_grace_seconds: float = 2.0
    pending_events: int = 10_000
    disk_scan_entries: int = 20_000
    """How many directory entries the monitor walks in one ``$WORK``; past it, disk is a floor."""


DEFAULT_LIMITS = Limits()
