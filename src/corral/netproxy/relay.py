"""Copy bytes both ways between the plugin's stream and the upstream one, counting them.

Each direction ends on its own: when one side stops sending, the other is
told (half close) and the remaining direction runs on, which is how request /
response protocols over TCP end cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

CHUNK = 64 * 1024


async def pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: Callable[[int], None]
) -> None:
    """Copy ``reader`` into ``writer`` until end of stream, then half-close ``writer``."""
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            count(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def splice(
    plugin: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    on_out: Callable[[int], None],
    on_in: Callable[[int], None],
) -> None:
    """Relay until both directions are done; ``on_out`` counts plugin -> upstream bytes."""
    await asyncio.gather(pump(plugin[0], upstream[1], on_out), pump(upstream[0], plugin[1], on_in))
