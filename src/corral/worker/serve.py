"""The worker's loop inside the pen: answer calls, forward host calls and events.

One call runs at a time (calls to one worker queue on the host side), so the
loop is single-threaded: while plugin code waits on a host function, the
loop reads the channel until that function's result arrives.
"""

from __future__ import annotations

import os
import socket
import traceback
from typing import Any

from corral.errors import (
    CorralError,
    PermissionDenied,
    PluginTimeout,
    ProtocolError,
    ResourceLimitExceeded,
)
from corral.limits import DEFAULT_LIMITS, Limits
from corral.loading import Loaded
from corral.plugin import _bind_host_caller
from corral.protocol import (
    Call,
    Connection,
    ErrorInfo,
    Event,
    HostCall,
    Message,
    Ready,
    Result,
    Shutdown,
)

CHANNEL_FD = 3


class Channel:
    """The worker's end of the IPC socket, with the protocol state on top."""

    def __init__(self, sock: socket.socket, limits: Limits = DEFAULT_LIMITS) -> None:
        self.sock = sock
        self.conn = Connection(max_frame_bytes=limits.frame_bytes)
        self._inbox: list[Message] = []

    def send(self, message: Message) -> None:
        self.sock.sendall(self.conn.send(message))

    def receive(self) -> Message:
        """The next message; the host closing the channel ends the worker."""
        while not self._inbox:
            data = self.sock.recv(65536)
            self._inbox.extend(self.conn.receive_data(data))
            if not data:
                os._exit(0)
        return self._inbox.pop(0)

    def event(self, type_: str, decision: str, **details: Any) -> None:
        self.send(Event(id=0, type=type_, decision=decision, details=details))

    def call_host(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Send a host-function call and block until its result arrives."""
        call = HostCall(id=self.conn.next_id(), name=name, args=list(args), kwargs=kwargs)
        self.send(call)
        while True:
            message = self.receive()
            if isinstance(message, Result) and message.id == call.id:
                return _unwrap(message)
            if isinstance(message, Shutdown):
                os._exit(0)


def error_info(exc: BaseException, limits: Limits = DEFAULT_LIMITS) -> ErrorInfo:
    """Describe ``exc`` for the host, bounded so a hostile message cannot flood it."""
    text = "".join(traceback.format_exception(exc))[-limits.traceback_chars :]
    message = str(exc)[: limits.error_message_chars]
    if isinstance(exc, CorralError):
        name = type(exc).__name__
    else:
        name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    return ErrorInfo(
        type=name,
        message=message,
        permission=getattr(exc, "permission", "") if isinstance(exc, PermissionDenied) else "",
        limit=getattr(exc, "limit", "")
        if isinstance(exc, PluginTimeout | ResourceLimitExceeded)
        else "",
        traceback=text,
    )


def _unwrap(result: Result) -> Any:
    if result.ok:
        return result.value
    err = result.error or ErrorInfo(type="CorralError", message="host function failed")
    if err.type == "PermissionDenied":
        raise PermissionDenied(err.message, permission=err.permission, layer="host")
    if err.type == "ResourceLimitExceeded":
        raise ResourceLimitExceeded(err.message, limit=err.limit)
    if err.type == "PluginTimeout":
        raise PluginTimeout(err.message, limit=err.limit)
    raise CorralError(f"{err.type}: {err.message}")


def serve(channel: Channel, loaded: Loaded) -> None:
    """Announce the callables, then answer calls until shutdown; never returns."""
    _bind_host_caller(channel.call_host)
    channel.send(Ready(id=0, callables=sorted(loaded.callables), hooks=loaded.hooks))
    while True:
        message = channel.receive()
        if isinstance(message, Shutdown):
            _teardown(loaded)
            os._exit(0)
        if isinstance(message, Call):
            _reply(channel, message, _run(loaded, message))


def _reply(channel: Channel, call: Call, result: Result) -> None:
    """Send ``result``; a value that cannot cross the channel becomes a clear error."""
    try:
        channel.send(result)
    except (TypeError, ProtocolError) as exc:
        message = f"result of {call.name!r} cannot cross the channel: {exc}"
        err = ErrorInfo(type="TypeError", message=message)
        channel.send(Result(id=call.id, ok=False, error=err))


def _run(loaded: Loaded, call: Call) -> Result:
    fn = loaded.callables.get(call.name)
    if fn is None:
        known = ", ".join(sorted(loaded.callables)) or "none"
        err = ErrorInfo(type="AttributeError", message=f"no callable {call.name!r}; has {known}")
        return Result(id=call.id, ok=False, error=err)
    try:
        value = fn(*call.args, **call.kwargs)
    except BaseException as exc:  # the plugin's failure is data for the host
        return Result(id=call.id, ok=False, error=error_info(exc))
    return Result(id=call.id, ok=True, value=value)


def _teardown(loaded: Loaded) -> None:
    if loaded.instance is not None:
        try:
            loaded.instance.teardown()
        except Exception:  # teardown failures must not keep a worker alive
            traceback.print_exc()
