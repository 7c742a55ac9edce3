"""The IPC protocol host and worker share: frames, messages, connection state.

Pure and sans-IO, so the host, the zygote and the worker inside the pen all
speak exactly the same code, and tests wire both ends together in memory.
"""

from corral.protocol.connection import Connection, pair
from corral.protocol.framing import FrameDecoder, decode_body, encode_frame
from corral.protocol.messages import (
    Call,
    ErrorInfo,
    Event,
    Exited,
    HostCall,
    Message,
    Prefork,
    Ready,
    Result,
    Shutdown,
    Spawn,
    Spawned,
    from_wire,
)

__all__ = [
    "Call",
    "Connection",
    "ErrorInfo",
    "Event",
    "Exited",
    "FrameDecoder",
    "HostCall",
    "Message",
    "Prefork",
    "Ready",
    "Result",
    "Shutdown",
    "Spawn",
    "Spawned",
    "decode_body",
    "encode_frame",
    "from_wire",
    "pair",
]
