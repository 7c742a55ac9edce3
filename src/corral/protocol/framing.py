"""Frames on the wire: a 4-byte big-endian length, then one msgpack map.

Sans-IO: bytes in, messages out. The decoder checks the declared length
against the bound *before* buffering the body, so a hostile peer announcing
a 4 GiB frame costs four bytes of memory, not four gigabytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import msgpack

from corral.errors import ProtocolError
from corral.limits import DEFAULT_LIMITS

_HEADER = struct.Struct(">I")


def encode_frame(message: dict[str, Any], *, max_bytes: int = DEFAULT_LIMITS.frame_bytes) -> bytes:
    """Serialise one message map; refuse bodies larger than ``max_bytes``."""
    try:
        body: bytes = msgpack.packb(message, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"not msgpack-serialisable: {exc}") from exc
    if len(body) > max_bytes:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the limit of {max_bytes}")
    return _HEADER.pack(len(body)) + body


def decode_body(
    body: bytes, *, max_containers: int = DEFAULT_LIMITS.frame_containers
) -> dict[str, Any]:
    """Parse one frame body into a map, refusing anything else.

    The frame's byte bound does not bound what it decodes to: an empty list
    is one byte on the wire and 64 in the host. So the lists and maps one frame
    may build are counted (and each one's announced length is checked before
    msgpack allocates it), and a frame past ``max_containers`` is refused
    while it is still being built.
    """
    left = max_containers

    def count(container: Any) -> Any:
        nonlocal left
        left -= 1
        if left < 0:
            raise ValueError(f"more than {max_containers} lists and maps in one frame")
        return container

    try:
        value = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            list_hook=count,
            object_hook=count,
            max_array_len=max_containers,
            max_map_len=max_containers,
        )
    except Exception as exc:
        raise ProtocolError(f"malformed frame: {exc}") from exc
    if not isinstance(value, dict) or not isinstance(value.get("kind"), str):
        raise ProtocolError("a frame must be a map with a string 'kind'")
    return value


class FrameDecoder:
    """Accumulates bytes and yields complete message maps."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_LIMITS.frame_bytes,
        max_containers: int = DEFAULT_LIMITS.frame_containers,
    ) -> None:
        self._buffer = bytearray()
        self._max = max_bytes
        self._containers = max_containers

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        """Add bytes; yield every message they complete."""
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > self._max:
                raise ProtocolError(f"peer announced a {length}-byte frame; limit is {self._max}")
            end = _HEADER.size + length
            if len(self._buffer) < end:
                return
            body = bytes(self._buffer[_HEADER.size : end])
            del self._buffer[:end]
            yield decode_body(body, max_containers=self._containers)

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buffer)
