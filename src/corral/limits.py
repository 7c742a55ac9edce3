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
    """Bounds on what corral reads, buffers and waits for.

    The ``host_call_*`` bounds protect the host from its plugins' callbacks: a
    host function runs at most ``host_call_timeout_seconds`` before the plugin
    gets a timeout (the runaway thread is left to finish, and at most
    ``host_call_runaways`` of them may be outstanding before host calls are
    refused), its encoded arguments may not exceed ``host_call_arg_bytes``, and
    each plugin draws from a token bucket of ``host_call_burst`` calls refilled
    at ``host_call_rate`` per second.
    """

    manifest_bytes: int = 256 * 1024
    frame_bytes: int = 16 * 1024 * 1024
    frame_containers: int = 1_000_000
    """Lists and maps in one decoded frame (and the length of any one of them).

    A byte on the wire can become a 64-byte empty list in the host: without this
    bound one 16 MiB frame of ``[[], [], ...]`` cost the host 1.3 GB.
    """
    output_bytes: int = 64 * 1024
    log_line_bytes: int = 4096
    audit_detail_bytes: int = 16 * 1024
    error_message_chars: int = 2000
    traceback_chars: int = 8000
    worker_start_seconds: float = 10.0
    kill_grace_seconds: float = 0.5
    close_grace_seconds: float = 2.0
    pending_events: int = 10_000
    worker_events_per_call: int = 256
    """Guard reports recorded one by one per call; past it, counted in one record."""
    # plugin packages (trust): checked before a member is read or inflated
    package_files: int = 5_000
    package_bytes: int = 256 * 1024 * 1024
    member_bytes: int = 64 * 1024 * 1024
    compression_ratio: int = 100
    compression_ratio_floor_bytes: int = 1024 * 1024
    envelope_bytes: int = 4 * 1024 * 1024
    keyring_bytes: int = 1024 * 1024
    host_call_timeout_seconds: float = 10.0
    host_call_arg_bytes: int = 1024 * 1024
    host_call_rate: float = 100.0
    host_call_burst: int = 200
    host_call_runaways: int = 8
    vet_file_bytes: int = 1024 * 1024
    disk_scan_entries: int = 20_000
    """How many directory entries the monitor walks in one ``$WORK``.

    A ``$WORK`` with more entries cannot be measured, so it counts as at its
    ``disk_mb`` (breached, the workers killed): past the walk, the data hidden
    behind enough empty files would otherwise go uncounted.
    """


DEFAULT_LIMITS = Limits()
