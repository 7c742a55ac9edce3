"""The proxy: one event loop thread in the host, serving every restricted plugin's door.

A pen reaches it only through a *dispenser*: one end of a SOCK_SEQPACKET
socketpair handed to the worker at spawn. Each message the worker sends on it
is answered with a fresh stream (one end of a new socketpair, passed by
SCM_RIGHTS) whose other end the proxy serves as one client connection of that
plugin. The pen never names the proxy and has no route anywhere; what it can
reach is what ``decide`` allows for the door the stream came through.

On each stream the first byte says the protocol: 0x05 is SOCKS5, anything
else an HTTP proxy request (CONNECT or an absolute URI). Every connection
allowed or refused is one ``network.connect`` audit event, an allowed one
written when it closes so it carries the bytes moved both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from corral.netproxy import http, socks5
from corral.netproxy.door import Door, NetUsage, Record
from corral.netproxy.relay import splice
from corral.netproxy.resolve import Grantish, Resolver, Verdict, decide, system_resolver

HANDSHAKE_SECONDS = 10.0
CONNECT_SECONDS = 10.0
SPARE_STREAMS = 8
"""Streams a worker may hold unanswered beyond its plugin's connection limit."""

OPEN_REQUEST = b"o"
GRANTED, EXHAUSTED = b"o", b"n"
T = TypeVar("T")


@dataclass(frozen=True)
class _Refusal:
    socks_code: int
    http_status: int
    reason: str
    permission: str = ""


@dataclass(eq=False)
class _Dispenser:
    door: Door
    sock: socket.socket
    streams: set[asyncio.Task[None]]


class NetProxy:
    """The host's filtering proxy; ``record`` is the host's audit entry point."""

    def __init__(
        self,
        record: Record,
        *,
        resolver: Resolver = system_resolver,
        connect_seconds: float = CONNECT_SECONDS,
    ) -> None:
        self._record = record
        self._resolver = resolver
        self._connect_seconds = connect_seconds
        self._doors: dict[str, Door] = {}
        self._dispensers: set[_Dispenser] = set()  # touched on the loop thread only
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="corral-netproxy")
        self._thread.daemon = True
        self._thread.start()
        self._closed = False

    # --- host side ----------------------------------------------------------------

    def door(self, plugin: str, grant: Grantish, *, max_connections: int) -> Door:
        """The door for ``plugin`` (made on first use; a reload brings a new grant)."""
        with self._lock:
            door = self._doors.get(plugin)
            if door is None or door.grant is not grant:
                door = Door(plugin, grant, max_connections=max_connections, resolver=self._resolver)
                self._doors[plugin] = door
            return door

    def usage(self, plugin: str) -> NetUsage | None:
        """The counters of ``plugin``'s door, or None when it never had one."""
        with self._lock:
            door = self._doors.get(plugin)
        return door.usage() if door is not None else None

    def dispenser(self, door: Door) -> socket.socket:
        """A new dispenser for one worker of ``door``'s plugin: the end to hand into the pen."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        try:
            self._run(self._attach(_Dispenser(door, ours, set())))
        except BaseException:
            ours.close()
            theirs.close()
            raise
        return theirs

    def close(self) -> None:
        """Close every stream and upstream connection, then stop the loop thread."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._closed and not self._thread.is_alive():
            coroutine.close()
            raise RuntimeError("the network proxy is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10.0)

    # --- dispensers (loop thread) -------------------------------------------------

    async def _attach(self, dispenser: _Dispenser) -> None:
        self._dispensers.add(dispenser)
        self._loop.add_reader(dispenser.sock.fileno(), self._dispense, dispenser)

    def _dispense(self, dispenser: _Dispenser) -> None:
        try:
            data = dispenser.sock.recv(16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._detach(dispenser)
            return
        if len(dispenser.streams) >= dispenser.door.max_connections + SPARE_STREAMS:
            with contextlib.suppress(OSError):
                dispenser.sock.send(EXHAUSTED)
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(dispenser.sock, [GRANTED], [theirs.fileno()])
        except OSError:
            ours.close()
            return
        finally:
            theirs.close()
        task = self._loop.create_task(self._serve(dispenser.door, ours))
        dispenser.streams.add(task)
        task.add_done_callback(dispenser.streams.discard)

    def _detach(self, dispenser: _Dispenser) -> None:
        """The worker is gone (or the host closes): so are its connections."""
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(dispenser.sock.fileno())
        dispenser.sock.close()
        for task in list(dispenser.streams):
            task.cancel()
        self._dispensers.discard(dispenser)

    async def _shutdown(self) -> None:
        tasks = [t for d in self._dispensers for t in d.streams]
        for dispenser in list(self._dispensers):
            self._detach(dispenser)
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        await self._loop.shutdown_default_executor()

    # --- one stream ---------------------------------------------------------------

    async def _serve(self, door: Door, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            first = await asyncio.wait_for(reader.readexactly(1), HANDSHAKE_SECONDS)
            if first == bytes((socks5.VERSION,)):
                await self._socks(door, reader, writer)
            else:
                await self._http(door, reader, writer, first)
        except (asyncio.IncompleteReadError, TimeoutError, OSError, UnicodeError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _socks(
        self, door: Door, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = await asyncio.wait_for(socks5.read_request(reader, writer), HANDSHAKE_SECONDS)
        except socks5.SocksError as exc:
            writer.write(socks5.reply(exc.code))
            return
        if request.command != socks5.CONNECT:
            reason = f"SOCKS command {request.command} refused: only CONNECT (no inbound, no UDP)"
            self._refused(door, request.host, request.port, "socks5", reason)
            writer.write(socks5.reply(socks5.COMMAND_NOT_SUPPORTED))
            return
        link = await self._open(door, request.host, request.port, "socks5")
        if isinstance(link, _Refusal):
            writer.write(socks5.reply(link.socks_code))
            return
        writer.write(socks5.reply(socks5.SUCCEEDED))
        await self._relay(door, link, (reader, writer), "socks5", b"")

    async def _http(
        self, door: Door, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: bytes
    ) -> None:
        try:
            request = await asyncio.wait_for(http.read_request(reader, first), HANDSHAKE_SECONDS)
        except http.HttpError as exc:
            writer.write(http.refusal(exc.status, str(exc)))
            return
        protocol = "http-connect" if request.tunnel else "http"
        link = await self._open(door, request.host, request.port, protocol)
        if isinstance(link, _Refusal):
            writer.write(http.refusal(link.http_status, link.reason, link.permission))
            return
        if request.tunnel:
            writer.write(http.ESTABLISHED)
        await self._relay(door, link, (reader, writer), protocol, request.head)

    async def _open(self, door: Door, host: str, port: int, protocol: str) -> _Link | _Refusal:
        """Decide, take a slot, connect to a checked address; or say why not."""
        if _literal(host):  # nothing to resolve: no thread needed
            verdict = decide(door.grant, host, port, door.resolver)
        else:
            verdict = await self._loop.run_in_executor(
                None, decide, door.grant, host, port, door.resolver
            )
        if not verdict.allowed:
            self._refused(
                door,
                host,
                port,
                protocol,
                verdict.reason,
                permission=verdict.permission,
                verdict=verdict,
            )
            return _Refusal(socks5.NOT_ALLOWED, 403, verdict.reason, verdict.permission)
        if not door.admit():
            reason = f"the plugin already has {door.max_connections} open connections (its limit)"
            self._refused(door, host, port, protocol, reason, verdict=verdict)
            return _Refusal(socks5.NOT_ALLOWED, 429, reason)
        errors = []
        try:
            for address in verdict.addresses:
                try:
                    streams = await asyncio.wait_for(
                        asyncio.open_connection(address, port), self._connect_seconds
                    )
                except (OSError, TimeoutError) as exc:
                    errors.append(f"{address}: {exc or type(exc).__name__}")
                    continue
                return _Link(verdict, address, *streams)
        except BaseException:  # cancelled (the worker died, the host closes): free the slot
            door.release()
            raise
        door.release()
        reason = "upstream unreachable: " + "; ".join(errors)
        self._event(door, "allow", verdict, protocol, address=verdict.address, error=reason)
        return _Refusal(socks5.CONNECTION_REFUSED, 502, reason)

    async def _relay(
        self,
        door: Door,
        link: _Link,
        plugin: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        protocol: str,
        head: bytes,
    ) -> None:
        moved = {"in": 0, "out": len(head)}
        started = time.monotonic()

        def out(n: int) -> None:
            moved["out"] += n
            door.count(bytes_out=n)

        def into(n: int) -> None:
            moved["in"] += n
            door.count(bytes_in=n)

        try:
            if head:
                door.count(bytes_out=len(head))
                link.writer.write(head)
            await splice(plugin, (link.reader, link.writer), out, into)
        finally:
            link.writer.close()
            door.release()
            self._event(
                door,
                "allow",
                link.verdict,
                protocol,
                address=link.address,
                bytes_in=moved["in"],
                bytes_out=moved["out"],
                seconds=round(time.monotonic() - started, 3),
            )

    # --- audit ----------------------------------------------------------------------

    def _refused(
        self,
        door: Door,
        host: str,
        port: int,
        protocol: str,
        reason: str,
        *,
        permission: str = "",
        verdict: Verdict | None = None,
    ) -> None:
        door.refused()
        self._event(
            door,
            "deny",
            verdict or Verdict(False, host, port),
            protocol,
            address=verdict.address if verdict else "",
            reason=reason,
            permission=permission,
        )

    def _event(
        self, door: Door, decision: str, verdict: Verdict, protocol: str, **details: Any
    ) -> None:
        details.setdefault("bytes_in", 0)
        details.setdefault("bytes_out", 0)
        with contextlib.suppress(Exception):  # a failing sink must not kill the proxy loop
            self._record(
                "network.connect",
                door.plugin,
                decision,
                host=verdict.host,
                port=verdict.port,
                protocol=protocol,
                layer="netproxy",
                **details,
            )


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Link:
    verdict: Verdict
    address: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
