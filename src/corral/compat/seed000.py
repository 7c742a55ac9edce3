"""Seed 000 (Kari extensions): permission decorators and ``SecurityContext``.

The decorators ask one question, "does the grant in force hold this?", of
corral's own grant:

- inside a pen, the plugin's grant (``corral.plugin.current_grant()``): the
  decorator's refusal is a clear error early, while the kernel and the guard
  remain the barrier whatever the plugin does to its own decorators;
- in host code, the permissions of the innermost ``SecurityContext``;
- both, when a plugin opens a ``SecurityContext``: a context narrows what is
  in force, it never widens the grant.

With neither in force a decorated function is refused (fail secure). Each
decision the decorators make is written as a "plugin.action" audit record:
inside a pen it goes to the host over the worker's channel, in host code to
the sink set with :func:`set_audit_sink` (a ``MemorySink`` until one is set).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import corral
from corral.audit import AuditEvent, AuditSink, MemorySink
from corral.compat._grants import Required, denied, grant_of, required
from corral.plugin import current_grant
from corral.plugin import report as report_in_pen
from corral.policy import Grant
from corral.policy.decision import Decision, Request
from corral.runtime.ratelimit import TokenBucket

F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT: contextvars.ContextVar[SecurityContext | None] = contextvars.ContextVar(
    "corral_compat_security_context", default=None
)
_SINK: list[AuditSink] = [MemorySink()]
_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


def set_audit_sink(sink: AuditSink) -> None:
    """Where host-side decorator records go (``host.audit`` to join the host's log)."""
    _SINK[0] = sink


def get_audit_sink() -> AuditSink:
    return _SINK[0]


def _in_force() -> list[tuple[str, Grant]]:
    """Every grant that must allow an action now, with who holds it; empty: none in force."""
    out: list[tuple[str, Grant]] = []
    pen = current_grant()
    if isinstance(pen, Grant):
        out.append((f"plugin {pen.plugin!r}", pen))
    context = _CONTEXT.get()
    if context is not None:
        out.append((f"security context {context.name!r}", context.grant))
    return out


def _who() -> str:
    context = _CONTEXT.get()
    pen = current_grant()
    if isinstance(pen, Grant):
        return pen.plugin
    return context.name if context is not None else "host"


def check(permission: str) -> None:
    """Raise ``PermissionDenied`` unless every grant in force holds ``permission``."""
    need = required(permission)
    grants = _in_force()
    if not grants:
        decision = Decision(False, "no grant in force (not in a pen, no SecurityContext)")
        _record("permission.check", "deny", permission=permission, reason=decision.reason)
        raise denied("this call", need, decision)
    for holder, grant in grants:
        decision = need.decide(grant)
        if not decision.allowed:
            _record("permission.check", "deny", permission=permission, reason=decision.reason)
            raise denied(holder, need, decision)


def has_permission(permission: str) -> bool:
    """Whether every grant in force holds ``permission`` (no grant in force: False)."""
    need: Required = required(permission)
    grants = _in_force()
    return bool(grants) and all(need.decide(g).allowed for _, g in grants)


def _record(action: str, decision: str, **details: Any) -> None:
    if isinstance(current_grant(), Grant):
        report_in_pen(action, decision=decision, **details)
        return
    _SINK[0].write(
        AuditEvent(
            time=time.time(),
            kind="plugin.action",
            plugin=_who(),
            decision=decision,
            details={"action": action, **details},
        )
    )


def _wrap(fn: F, before: Callable[[tuple[Any, ...], dict[str, Any]], None]) -> F:
    """``fn`` with ``before(args, kwargs)`` run first; sync and ``async def`` alike."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            before(args, kwargs)
            return await fn(*args, **kwargs)

        return cast(F, run_async)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        before(args, kwargs)
        return fn(*args, **kwargs)

    return cast(F, run)


def require_permission(permission: str) -> Callable[[F], F]:
    """Refuse to run the function unless ``permission`` is held (hierarchy applies)."""
    required(permission)  # a misspelt permission fails at decoration, not at the call

    def decorate(fn: F) -> F:
        return _wrap(fn, lambda args, kwargs: check(permission))

    return decorate


def require_permissions(*permissions: str | Iterable[str]) -> Callable[[F], F]:
    """Refuse unless every one of ``permissions`` is held (a list or several arguments)."""
    wanted: list[str] = []
    for item in permissions:
        wanted.extend([item] if isinstance(item, str) else item)
    for permission in wanted:
        required(permission)

    def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for permission in wanted:
            check(permission)

    def decorate(fn: F) -> F:
        return _wrap(fn, before)

    return decorate


def rate_limit(max_calls: int = 10, period: float = 60.0) -> Callable[[F], F]:
    """At most ``max_calls`` per ``period`` seconds (a token bucket per decorated function)."""
    bucket = TokenBucket(max_calls / period, max_calls)

    def decorate(fn: F) -> F:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if not bucket.take():
                _record("rate_limit", "deny", function=fn.__qualname__, max_calls=max_calls)
                raise corral.ResourceLimitExceeded(
                    f"{fn.__qualname__}: rate limit of {max_calls} calls per {period:g} s",
                    limit="rate_limit",
                    value=max_calls,
                )

        return _wrap(fn, before)

    return decorate


def audit_log(action: str, sensitive: bool = False) -> Callable[[F], F]:
    """Record each call as ``action``; ``sensitive=True`` keeps the arguments out of the log."""

    def decorate(fn: F) -> F:
        def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            if sensitive:
                shown: dict[str, Any] = {"arguments": "redacted", "count": len(args) + len(kwargs)}
            else:
                shown = {"args": repr(args)[:500], "kwargs": repr(kwargs)[:500]}
            _record(action, "info", function=fn.__qualname__, sensitive=sensitive, **shown)

        return _wrap(fn, before)

    return decorate


def security_monitor(fn: F) -> F:
    """Record each call's duration and outcome; a refusal is recorded as a denial."""

    def finish(start: float, exc: BaseException | None) -> None:
        outcome = "ok" if exc is None else type(exc).__name__
        decision = "deny" if isinstance(exc, PermissionError) else "info"
        _record(
            "security_monitor",
            decision,
            function=fn.__qualname__,
            outcome=outcome,
            duration_ms=round((time.monotonic() - start) * 1000, 3),
        )

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def watched_async(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic()
            try:
                value = await fn(*args, **kwargs)
            except BaseException as exc:
                finish(start, exc)
                raise
            finish(start, None)
            return value

        return cast(F, watched_async)

    @functools.wraps(fn)
    def watched(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:
            finish(start, exc)
            raise
        finish(start, None)
        return value

    return cast(F, watched)


def _target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """``host:port`` of the first URL-looking argument (``url=``/``host=`` first)."""
    candidates = [kwargs.get("url"), kwargs.get("host"), *args]
    for value in candidates:
        if not isinstance(value, str):
            continue
        parts = urlsplit(value if "://" in value else f"//{value}")
        if parts.hostname:
            port = parts.port or _PORTS.get(parts.scheme, 443)
            return f"{parts.hostname}:{port}"
    return None


def validate_network_access(fn: F) -> F:
    """Refuse the call unless the grant in force may connect to its URL argument.

    Inside a pen this is a courtesy: the network namespace and the proxy are
    the barrier. A call with no URL-looking argument is refused, since there is
    nothing to validate.
    """

    def before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        target = _target(args, kwargs)
        if target is None:
            raise corral.PermissionDenied(
                f"{fn.__qualname__}: no URL or host argument to validate", layer="compat"
            )
        need = Required(f"network:connect={target}", (Request("network", "connect", target),))
        grants = _in_force()
        if not grants:
            check(need.text)
        for holder, grant in grants:
            decision = need.decide(grant)
            if not decision.allowed:
                _record("network.validate", "deny", target=target, reason=decision.reason)
                raise denied(holder, need, decision)
        _record("network.validate", "allow", target=target)

    return _wrap(fn, before)


def check_permission(permission: str) -> bool:
    """The seed's ``self.check_permission('network:external')``: held by every grant in force?

    ``network:external`` is held at network level ``restricted`` or ``full``
    (a plugin that may reach some host outside its pen); any other spelling
    means what it means in a plugin.yaml.
    """
    return has_permission(permission)


@dataclass(frozen=True)
class HttpResponse:
    """What :func:`secure_http_request` returns: status, headers and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


async def secure_http_request(
    url: str,
    method: str = "GET",
    *,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    max_bytes: int = 10 * 1024 * 1024,
) -> HttpResponse:
    """The seed's ``await self.secure_http_request(url)``: an HTTP request the grant allows.

    The URL's ``host:port`` is checked against ``network:connect`` in every
    grant in force and the decision recorded ("network.request"); a refusal
    raises ``PermissionDenied`` naming ``network:connect=host:port`` before
    any connection is made. Inside a pen the request then goes out through
    corral's filtering proxy, which judges it again: this check is the clear
    error, the pen's network namespace and the proxy are the barrier. Bodies
    larger than ``max_bytes`` are refused rather than read.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"secure_http_request needs an http(s) URL, not {url!r}")
    target = f"{parts.hostname}:{parts.port or _PORTS[parts.scheme]}"
    need = Required(f"network:connect={target}", (Request("network", "connect", target),))
    grants = _in_force()
    if not grants:
        check(need.text)
    for holder, grant in grants:
        decision = need.decide(grant)
        if not decision.allowed:
            _record("network.request", "deny", url=url, target=target, reason=decision.reason)
            raise denied(holder, need, decision)
    _record("network.request", "allow", url=url, target=target, method=method)
    body = data.encode() if isinstance(data, str) else data
    request = urllib.request.Request(  # noqa: S310 (http(s) checked above)
        url, data=body, headers=dict(headers or {}), method=method
    )
    return await asyncio.to_thread(_fetch, request, timeout, max_bytes)


def _fetch(request: urllib.request.Request, timeout: float, cap: int) -> HttpResponse:
    url = request.full_url
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        response = exc  # a 4xx/5xx answer is still an answer
    with response:
        payload = response.read(cap + 1)
        if len(payload) > cap:
            raise corral.ResourceLimitExceeded(
                f"{url}: response larger than {cap} bytes", limit="max_bytes", value=cap
            )
        return HttpResponse(response.status, dict(response.headers.items()), payload)


class SecurityContext:
    """Permissions in force for a block, and a private directory cleaned up on exit.

    ``create_temp_file`` places files in the context's own directory, which
    ``write_file`` and ``read_file`` may always use; any other path needs
    ``file:write`` / ``file:read`` for it from every grant in force.
    """

    def __init__(self, name: str, permissions: Iterable[str]) -> None:
        self.name = name
        self.permissions = list(permissions)
        self.grant = grant_of(name, self.permissions)
        self.directory: Path | None = None
        self._token: contextvars.Token[SecurityContext | None] | None = None

    def __enter__(self) -> SecurityContext:
        self._token = _CONTEXT.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
        if self._token is not None:
            _CONTEXT.reset(self._token)
            self._token = None

    async def __aenter__(self) -> SecurityContext:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def check_permission(self, permission: str) -> bool:
        return has_permission(permission)

    def create_temp_file(self, suffix: str = "") -> str:
        """A new empty file in this context's directory; removed on exit."""
        if self.directory is None:
            safe = "".join(c if c.isalnum() else "-" for c in self.name)[:40]
            self.directory = Path(tempfile.mkdtemp(prefix=f"corral-{safe}-"))
        fd, path = tempfile.mkstemp(suffix=suffix, dir=self.directory)
        os.close(fd)
        return path

    def _own(self, path: str | os.PathLike[str]) -> bool:
        if self.directory is None:
            return False
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(self.directory))

    def _need(self, action: str, path: str | os.PathLike[str]) -> None:
        if self._own(path):
            return
        real = os.path.realpath(path)
        check(f"file:{action}={real}")

    def write_file(self, path: str | os.PathLike[str], data: Any) -> None:
        """Write text, bytes, or anything else as JSON."""
        self._need("write", path)
        if isinstance(data, bytes):
            Path(path).write_bytes(data)
        else:
            Path(path).write_text(data if isinstance(data, str) else json.dumps(data))

    def read_file(self, path: str | os.PathLike[str]) -> str:
        self._need("read", path)
        return Path(path).read_text()

    def cleanup(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
