"""The messages host and worker exchange, as frozen values validated on arrival.

Either end may start a message at any time: the host calls the plugin, the
plugin calls host functions, the worker reports events. Every message has a
``kind`` and an ``id``; replies carry the id of what they answer. A message
that arrives with a wrong shape is a ``ProtocolError``, never a KeyError deep
in the host.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from corral.errors import ProtocolError


@dataclass(frozen=True)
class Message:
    """Base of every message; ``KIND`` is the wire name."""

    KIND: ClassVar[str] = ""
    id: int

    def to_wire(self) -> dict[str, Any]:
        # Shallow on purpose: ``dataclasses.asdict`` deep-copies every argument and
        # result, which cost more than the rest of a warm call put together.
        data = {name: getattr(self, name) for name in _names(type(self))}
        error = data.get("error")
        if isinstance(error, ErrorInfo):
            data["error"] = {name: getattr(error, name) for name in _names(ErrorInfo)}
        data["kind"] = self.KIND
        return data


@dataclass(frozen=True)
class Call(Message):
    """Host -> worker: run a plugin callable."""

    KIND: ClassVar[str] = "call"
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorInfo:
    """A failure as it crosses the channel: type name, message, and context."""

    type: str
    message: str
    permission: str = ""
    traceback: str = ""
    limit: str = ""


@dataclass(frozen=True)
class Result(Message):
    """Worker -> host (answering ``Call``) or host -> worker (answering ``HostCall``)."""

    KIND: ClassVar[str] = "result"
    ok: bool
    value: Any = None
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class HostCall(Message):
    """Worker -> host: the plugin calls a host function."""

    KIND: ClassVar[str] = "hostcall"
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ready(Message):
    """Worker -> host: the plugin is imported and set up; these are its callables."""

    KIND: ClassVar[str] = "ready"
    callables: list[str] = field(default_factory=list)
    hooks: dict[str, str] = field(default_factory=dict)
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class Event(Message):
    """Worker -> host: something the host should audit (a guard denial, a stripped env)."""

    KIND: ClassVar[str] = "event"
    type: str
    decision: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Shutdown(Message):
    """Host -> worker: run teardown and exit."""

    KIND: ClassVar[str] = "shutdown"


# --- host <-> zygote control channel ---------------------------------------


@dataclass(frozen=True)
class Spawn(Message):
    """Host -> zygote: fork a worker; its channel and output fds travel as SCM_RIGHTS."""

    KIND: ClassVar[str] = "spawn"
    spec: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Prefork(Message):
    """Host -> zygote: fork a spare child now, joined to the (empty) cgroup ``cgroup``.

    Under cgroup v1 joining a group waits for an RCU grace period, the largest
    part of a worker's start; a spare pays it before any plugin is loaded. The
    next ``Spawn`` whose plan names that group is handed to the spare instead of
    a fresh fork. Answered by ``Spawned`` with the spare's pid.
    """

    KIND: ClassVar[str] = "prefork"
    cgroup: str = ""


@dataclass(frozen=True)
class Spawned(Message):
    """Zygote -> host: the worker with this request id runs as ``pid`` (or failed)."""

    KIND: ClassVar[str] = "spawned"
    pid: int = 0
    error: str = ""


@dataclass(frozen=True)
class Exited(Message):
    """Zygote -> host: a worker was reaped, with its wait status and rusage."""

    KIND: ClassVar[str] = "exited"
    pid: int = 0
    exit_code: int | None = None
    signal: int | None = None
    cpu_seconds: float = 0.0
    max_rss_kb: int = 0


KINDS: dict[str, type[Message]] = {
    cls.KIND: cls
    for cls in (Call, Result, HostCall, Ready, Event, Shutdown, Spawn, Prefork, Spawned, Exited)
}


def from_wire(data: dict[str, Any]) -> Message:
    """Build the message a decoded frame describes, or raise ``ProtocolError``."""
    cls = KINDS.get(str(data.get("kind")))
    if cls is None:
        raise ProtocolError(f"unknown message kind {data.get('kind')!r}")
    names = _names(cls)
    values = {k: v for k, v in data.items() if k in names}
    if cls in (Result, Ready) and isinstance(values.get("error"), dict):
        values["error"] = _error_info(values["error"])
    try:
        message = cls(**values)
    except TypeError as exc:
        raise ProtocolError(f"bad {cls.KIND} message: {exc}") from exc
    for name, expected in _hints(cls).items():
        if not _fits(getattr(message, name), expected):
            raise ProtocolError(f"bad {cls.KIND} message: {name!r} is not {_spell(expected)}")
    return message


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """A message class's field types, resolved once (the annotations are strings here)."""
    hints = _HINTS.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = _HINTS[cls] = {name: resolved[name] for name in _names(cls)}
    return hints


def _fits(value: Any, expected: Any) -> bool:
    """Whether a decoded value has a field's declared type, one container level deep.

    The peer may be a hostile plugin: a ``details`` that is a list, or a host
    call's ``name`` that is a list, must stop here as a ``ProtocolError``
    rather than surface as an AttributeError from deep inside the host.
    """
    if expected is Any:
        return True
    if isinstance(expected, types.UnionType):
        return any(_fits(value, option) for option in typing.get_args(expected))
    if expected is type(None):
        return value is None
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    origin = typing.get_origin(expected)
    if origin is list:
        (item,) = typing.get_args(expected)
        return isinstance(value, list) and (item is Any or all(_fits(v, item) for v in value))
    if origin is dict:
        key, item = typing.get_args(expected)
        return isinstance(value, dict) and all(
            _fits(k, key) and (item is Any or _fits(v, item)) for k, v in value.items()
        )
    return isinstance(value, expected)


def _spell(expected: Any) -> str:
    return getattr(expected, "__name__", None) or str(expected)


_NAMES: dict[type, frozenset[str]] = {}


def _names(cls: type) -> frozenset[str]:
    """A message class's field names, computed once: ``fields()`` is slow on the call path."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f.name for f in fields(cls))
    return names


def _error_info(data: dict[str, Any]) -> ErrorInfo:
    names = _names(ErrorInfo)
    try:
        return ErrorInfo(**{k: str(v) for k, v in data.items() if k in names})
    except TypeError as exc:
        raise ProtocolError(f"bad error info: {exc}") from exc
