"""The guard: a PEP 578 audit hook that turns an operation outside the grant
into a ``PermissionDenied`` naming the manifest line that would allow it.

The kernel layers (Landlock, seccomp, namespaces) are the barrier; the guard
is not. Code in the pen can walk around it (ctypes, raw syscalls, rebinding
the guard's own attributes through ``gc``) and then meets the kernel's EACCES
instead of a helpful message. What the guard adds is the message a plugin
author can act on, ``open('/etc/hosts') denied: needs file:read=/etc/hosts``,
and an audit event for the host, sent through ``on_denial`` before raising.

It is installed after the kernel layers and before any plugin import, and
cannot be removed (PEP 578). Its design follows from being called for every
audit event in the process, imports and ``compile`` included:

* the first thing it does is one dict lookup; unmapped events return at once;
* while it handles an event, events its own work raises (``check`` reading a
  file, ``on_denial`` writing the channel) pass through, by a thread-local
  flag, so it cannot recurse; other threads stay guarded meanwhile;
* its own failures (a bug, an argument shape it did not expect, ``check``
  raising) deny: a guard that fails open teaches plugins how to bypass it.

Known gaps, all left to the kernel: 3.11's ``open`` event omits ``dir_fd``
(``os.open(name, dir_fd=fd)`` is judged against the cwd); several calls raise
no event at all (DESIGN.md lists them); a signal handler that runs while the
guard is busy has its events passed through.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, MutableMapping, Sequence
from threading import get_ident
from typing import Any

from corral.errors import PermissionDenied
from corral.policy.decision import Decision, Request
from corral.worker._events import HANDLERS, Handler
from corral.worker._paths import Paths, text
from corral.worker._processes import ENV_REFUSED, ENV_STRIPPED, STRIPPED_PREFIXES

Check = Callable[[Request], Decision]
OnDenial = Callable[[Request, Decision, str], None]
_ENV_EVENTS = frozenset(ENV_STRIPPED) | frozenset(ENV_REFUSED)
_EXEC_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn"}
)
"""Events that start a program: an allowed one is reported too (seed 004's "commands run")."""


class Guard:
    """Checks file, socket, process and env audit events against ``check``.

    ``check`` is the worker's (grant plus the pen's baseline); the guard only
    maps events to requests and acts on the decisions. ``writable_roots`` are
    where the plugin could plant symlinks, so paths there are resolved before
    checking (see ``corral.worker._paths``).
    """

    def __init__(
        self,
        check: Check,
        on_denial: OnDenial,
        *,
        manifest_file: str = "plugin.yaml",
        writable_roots: Sequence[str] = (),
    ) -> None:
        self._check = check
        self._on_denial = on_denial
        self._manifest_file = manifest_file
        self._paths = Paths(writable_roots)
        self._handlers: dict[str, Handler] = dict(HANDLERS)
        self._busy: set[int] = set()  # threads inside the handler (a thread-local flag)
        self._installed = False
        self._hook = self._make_hook()

    def install(self) -> None:
        """Hook into every audit event of this process, for good; a second call does nothing."""
        if not self._installed:
            # A child forked while another thread was inside the hook inherits
            # that thread's mark; a new thread could reuse its id, unguarded.
            os.register_at_fork(after_in_child=self._busy.clear)
            sys.addaudithook(self._hook)
            self._installed = True

    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        """The hook body: return, or raise ``PermissionDenied`` to stop the operation."""
        self._hook(event, args)

    def _make_hook(self) -> Callable[[str, tuple[Any, ...]], None]:
        """The hook: a plain closure, written for speed since it sees every audit event.

        Not a bound method: before each call CPython looks up ``__cantrace__``
        on the hook, and on a bound method that miss raises and discards an
        AttributeError, costing more than a whole ``open`` check (callgrind:
        ~3,700 instructions per event). One function, closure variables, no
        helper calls on the allowed path: each Python call costs about as much
        as the checks themselves.
        """
        handlers, busy, paths, check = self._handlers, self._busy, self._paths, self._check

        def hook(event: str, args: tuple[Any, ...]) -> None:
            handler = handlers.get(event)
            if handler is None:
                return
            thread = get_ident()
            if thread in busy:
                return  # an event the guard's own work caused
            busy.add(thread)
            try:
                requests = handler(paths, args)
                for request in requests:
                    decision = check(request)
                    if not decision.allowed:
                        self._deny(event, request, decision)
                if event in _ENV_EVENTS:
                    self._clean_env(event, args, requests[0].target)
                if event in _EXEC_EVENTS:  # rare, so the report costs the hot path nothing
                    for request in requests:
                        self._report(request, Decision(True, "allowed"), event)
            except PermissionDenied:
                raise
            except Exception as exc:
                self._fail_closed(event, exc)
            finally:
                busy.discard(thread)

        return hook

    def _clean_env(self, event: str, args: tuple[Any, ...], program: str) -> None:
        """Keep loader and interpreter variables from reaching a child process.

        Popen builds the child's environment from the very dict after this
        hook, so stripping it in place works and the call goes on (each strip
        is reported). exec and posix_spawn copied it before the hook, so there
        the only safe answer is to refuse the call.
        """
        strippable = event in ENV_STRIPPED
        env = args[ENV_STRIPPED[event] if strippable else ENV_REFUSED[event]]
        if env is None:
            return
        for key in [k for k in env if text(k).startswith(STRIPPED_PREFIXES)]:
            request = Request("env", "write", text(key))
            reason = f"{text(key)} never reaches a child process ({program}): it injects code"
            if not (strippable and isinstance(env, MutableMapping)):
                self._deny(event, request, Decision(False, reason))
            del env[key]
            self._report(request, Decision(False, reason), event)

    def _deny(self, operation: str, request: Request, decision: Decision) -> None:
        self._report(request, decision, operation)
        raise PermissionDenied(
            self._message(operation, request, decision),
            permission=decision.rule,
            operation=operation,
            target=request.target,
            layer="guard",
        )

    def _fail_closed(self, operation: str, exc: Exception) -> None:
        problem = f"{type(exc).__name__}: {exc}"
        self._report(Request("guard", "check", operation), Decision(False, problem), operation)
        raise PermissionDenied(
            f"{operation} denied: the guard could not check it ({problem}); "
            "denying is the safe answer",
            operation=operation,
            layer="guard",
        ) from exc

    def _report(self, request: Request, decision: Decision, operation: str) -> None:
        """Tell the host; a failing reporter must never turn a denial into an allow."""
        with contextlib.suppress(Exception):
            self._on_denial(request, decision, operation)

    def _message(self, operation: str, request: Request, decision: Decision) -> str:
        head = f"{operation}({request.target!r}) denied"
        if decision.rule:
            return f"{head}: needs {decision.rule} (add it to permissions in {self._manifest_file})"
        return f"{head}: {decision.reason} (no permission in {self._manifest_file} allows it)"
