"""SOCKS5 (RFC 1928), the CONNECT command only: raw TCP for clients that are not HTTP.

No authentication is offered: the stream itself says which plugin is asking
(it arrived through that plugin's door). BIND and UDP ASSOCIATE are refused:
inbound connections and UDP do not leave the pen.
"""

from __future__ import annotations

import asyncio
import ipaddress
import struct
from dataclasses import dataclass

VERSION = 5
NO_AUTH, NO_ACCEPTABLE = 0x00, 0xFF
CONNECT = 1
IPV4, DOMAIN, IPV6 = 1, 3, 4
SUCCEEDED, GENERAL_FAILURE, NOT_ALLOWED = 0x00, 0x01, 0x02
HOST_UNREACHABLE, CONNECTION_REFUSED = 0x04, 0x05
COMMAND_NOT_SUPPORTED, ADDRESS_NOT_SUPPORTED = 0x07, 0x08


class SocksError(Exception):
    """A malformed or unsupported request; ``code`` is the reply to send."""

    def __init__(self, message: str, code: int = GENERAL_FAILURE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SocksRequest:
    command: int
    host: str
    port: int


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> SocksRequest:
    """Greeting, method choice and the request; the version byte was already read."""
    (count,) = await reader.readexactly(1)
    methods = await reader.readexactly(count)
    if NO_AUTH not in methods:
        writer.write(bytes((VERSION, NO_ACCEPTABLE)))
        raise SocksError("the client offers no method without authentication")
    writer.write(bytes((VERSION, NO_AUTH)))
    await writer.drain()
    version, command, _, kind = await reader.readexactly(4)
    if version != VERSION:
        raise SocksError(f"SOCKS version {version} in the request")
    if kind == IPV4:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif kind == IPV6:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif kind == DOMAIN:
        (length,) = await reader.readexactly(1)
        host = (await reader.readexactly(length)).decode("idna")
    else:
        raise SocksError(f"address type {kind}", ADDRESS_NOT_SUPPORTED)
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    return SocksRequest(command, host, port)


def reply(code: int) -> bytes:
    """A reply with an all-zero bound address: the pen has no use for the proxy's."""
    return bytes((VERSION, code, 0, IPV4)) + bytes(6)
