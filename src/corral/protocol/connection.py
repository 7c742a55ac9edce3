"""One end of a channel: bytes in, messages out; messages in, bytes out.

The state that matters is which ids this end is waiting on. Both ends use the
same class; the host and the worker differ only in which kinds they send.
Nothing here touches a socket, so a test can wire two ends back to back
(:func:`pair`) and exercise the whole protocol in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from corral.errors import ProtocolError
from corral.limits import DEFAULT_LIMITS
from corral.protocol.framing import FrameDecoder, encode_frame
from corral.protocol.messages import Call, HostCall, Message, Result, from_wire

_REQUESTS = (Call, HostCall)


class Connection:
    """Sans-IO protocol state for one end of a host <-> worker channel."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_LIMITS.frame_bytes) -> None:
        self._decoder = FrameDecoder(max_bytes=max_frame_bytes)
        self._max = max_frame_bytes
        self._ids = itertools.count(1)
        self.awaiting: set[int] = set()
        self.closed = False

    def next_id(self) -> int:
        """A fresh id for a message this end starts."""
        return next(self._ids)

    def send(self, message: Message) -> bytes:
        """Bytes to write for ``message``; requests are remembered until answered."""
        if self.closed:
            raise ProtocolError("connection is closed")
        data = encode_frame(message.to_wire(), max_bytes=self._max)
        if isinstance(message, _REQUESTS):
            self.awaiting.add(message.id)
        return data

    def receive_data(self, data: bytes) -> Iterator[Message]:
        """Feed bytes read from the peer; yield each complete message.

        An empty ``data`` means the peer closed the channel.
        """
        if not data:
            self.closed = True
            return
        for raw in self._decoder.feed(data):
            message = from_wire(raw)
            if isinstance(message, Result):
                if message.id not in self.awaiting:
                    raise ProtocolError(f"result for id {message.id}, which nothing awaits")
                self.awaiting.discard(message.id)
            yield message


def pair() -> tuple[Connection, Connection]:
    """Two fresh ends, for tests that wire host and worker back to back in memory."""
    return Connection(), Connection()
