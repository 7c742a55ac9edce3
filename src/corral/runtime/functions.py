"""Host functions: what a plugin may call back into, each behind a permission.

The permission is checked on the host side against the grant, because the
request arrives over a channel the plugin controls; the plugin's own copy of
its grant is never asked. The same distrust sets the order of the checks: the
rate limit first (a flood costs the host one counter per call), then the
argument size, then the permission, and only then does host code run, under
its own deadline so a hanging host function cannot hold the plugin's call (and
its worker slot) forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from corral.limits import DEFAULT_LIMITS, Limits
from corral.policy import Grant, Permission
from corral.policy.decision import Request
from corral.protocol import ErrorInfo, HostCall, Result
from corral.runtime.deadline import DeadlineExceeded, DeadlineRunner, TooManyRunaways
from corral.runtime.ratelimit import TokenBucket

Audit = Callable[..., None]
"""``audit(decision, **details)``: writes one "hostcall" record for this plugin."""


@dataclass(frozen=True)
class _Function:
    fn: Callable[..., Any]
    requires: Permission


class HostFunctions:
    """The registry of functions a host exposes, and their guarded dispatch."""

    def __init__(
        self, limits: Limits = DEFAULT_LIMITS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._functions: dict[str, _Function] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._refused: dict[str, int] = {}
        self._lock = threading.Lock()  # calls from several plugins' handles arrive on threads
        self._runner = DeadlineRunner(limits.host_call_runaways)

    @property
    def names(self) -> list[str]:
        return sorted(self._functions)

    def register(
        self, name: str, *, requires: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A decorator registering ``fn`` as ``name``, callable with ``requires`` granted.

        ``requires`` is parsed now, so a typo fails at the host's start rather
        than at a plugin's first call.
        """
        permission = Permission.parse(requires)

        def add(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._functions[name] = _Function(fn, permission)
            return fn

        return add

    def dispatch(
        self,
        plugin: str,
        grant: Grant,
        message: HostCall,
        audit: Audit,
        call_left: float | None = None,
    ) -> Result:
        """Check rate, size and grant, run the function, and answer; every decision is audited.

        ``call_left`` is what remains of the plugin call waiting on this one: the
        host function's deadline is the nearer of its own and that, so a slow
        host function cannot stretch the plugin's call past its timeout.
        """
        start = self._clock()
        entry = self._functions.get(message.name)
        requires = str(entry.requires) if entry else ""
        refusal = self._refusal(plugin, grant, message, entry)
        if refusal is not None:
            decision, error = refusal
            if decision and self._worth_recording(plugin, error):
                audit(
                    decision,
                    function=message.name,
                    permission=requires,
                    reason=error.limit or error.type,
                    error=error.message,
                    duration_ms=round((self._clock() - start) * 1000, 3),
                )
            return Result(id=message.id, ok=False, error=error)
        assert entry is not None
        timeout = self.limits.host_call_timeout_seconds
        if call_left is not None:
            timeout = max(0.0, min(timeout, call_left))
        result, outcome = self._run(entry, message, timeout)
        audit(
            "allow",
            function=message.name,
            permission=requires,
            outcome=outcome,
            duration_ms=round((self._clock() - start) * 1000, 3),
            **self._take_refused(plugin),
        )
        return result

    def _worth_recording(self, plugin: str, error: ErrorInfo) -> bool:
        """Every refusal but a flood's: the first rate refusal is recorded, the rest counted.

        Writing an audit record per refused call would hand a flooding plugin
        the audit log's disk and fsyncs; the count rides on the next allowed
        call's record instead.
        """
        if error.limit != "host_call_rate":
            return True
        with self._lock:
            self._refused[plugin] = self._refused.get(plugin, 0) + 1
            return self._refused[plugin] == 1

    def _refusal(
        self, plugin: str, grant: Grant, message: HostCall, entry: _Function | None
    ) -> tuple[str, ErrorInfo] | None:
        """Why this call must not run (the audit decision and the plugin's error), or None."""
        bucket = self._bucket(plugin)
        if not bucket.take():
            text = (
                f"host calls from {plugin!r} exceed host_call_rate="
                f"{self.limits.host_call_rate:g}/s (burst {self.limits.host_call_burst})"
            )
            return "deny", ErrorInfo("ResourceLimitExceeded", text, limit="host_call_rate")
        if entry is None:
            return "", ErrorInfo("AttributeError", f"no host function {message.name!r}")
        size = len(msgpack.packb([message.args, message.kwargs], use_bin_type=True))
        if size > self.limits.host_call_arg_bytes:
            text = (
                f"arguments to host function {message.name!r} are {size} bytes; "
                f"host_call_arg_bytes={self.limits.host_call_arg_bytes}"
            )
            return "deny", ErrorInfo("ResourceLimitExceeded", text, limit="host_call_arg_bytes")
        domain, action = entry.requires.domain, entry.requires.action
        if not grant.check(Request(domain, action, entry.requires.scope or "")).allowed:
            text = (
                f"host function {message.name!r} needs {entry.requires} "
                "(add it to permissions in plugin.yaml)"
            )
            return "deny", ErrorInfo("PermissionDenied", text, permission=str(entry.requires))
        return None

    def _bucket(self, plugin: str) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(plugin)
            if bucket is None:
                bucket = TokenBucket(
                    self.limits.host_call_rate, self.limits.host_call_burst, self._clock
                )
                self._buckets[plugin] = bucket
            return bucket

    def _take_refused(self, plugin: str) -> dict[str, int]:
        """The count of rate refusals since the last allowed call, for its audit record."""
        with self._lock:
            count = self._refused.pop(plugin, 0)
        return {"rate_refused": count} if count else {}

    def _run(self, entry: _Function, message: HostCall, timeout: float) -> tuple[Result, str]:
        try:
            value = self._runner.run(entry.fn, timeout, *message.args, **message.kwargs)
        except DeadlineExceeded:
            text = (
                f"host function {message.name!r} did not answer within "
                f"host_call_timeout_seconds={timeout:g}"
            )
            info = ErrorInfo("PluginTimeout", text, limit="host_call_timeout_seconds")
            return Result(id=message.id, ok=False, error=info), "timeout"
        except TooManyRunaways as exc:
            text = (
                f"host function {message.name!r} refused: {exc.args[0]} earlier host calls "
                "are still running past their deadline"
            )
            info = ErrorInfo("ResourceLimitExceeded", text, limit="host_call_runaways")
            return Result(id=message.id, ok=False, error=info), "refused"
        except Exception as exc:  # the host function's failure is the plugin's answer
            info = ErrorInfo(type(exc).__name__, str(exc)[: self.limits.error_message_chars])
            return Result(id=message.id, ok=False, error=info), "error"
        return Result(id=message.id, ok=True, value=value), "ok"
