"""Assertions on what a host recorded, and on refusals.

corral's rule for a barrier's test is that the refusal is both raised to the
caller and written to the audit log: an application that only checks the
exception would not notice a host that forgot to record it, and an operator
relies on the record. :func:`assert_denied` checks both at once, and only
counts records made while the action ran, so an earlier denial of the same
permission cannot satisfy it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from corral.audit import AuditEvent, AuditSink
from corral.errors import PermissionDenied
from corral.runtime import Host


def audit_events(
    source: Host | AuditSink,
    *,
    kind: str | None = None,
    plugin: str | None = None,
    decision: str | None = None,
    **details: Any,
) -> list[AuditEvent]:
    """Events recorded by ``source`` (a host or its sink), oldest first, matching every filter.

    ``details`` filters on the event's details by equality, e.g.
    ``audit_events(host, kind="denied", permission="net:connect=example.org:443")``.
    """
    sink = source.audit if isinstance(source, Host) else source
    found = sink.query(kind=kind, plugin=plugin, decision=decision)
    return [e for e in found if all(e.details.get(k) == v for k, v in details.items())]


@dataclass
class Denial:
    """What :func:`denied` saw: the exception raised and the audit record that matches it.

    Both are filled in when the ``with`` block ends; inside it they are None.
    """

    permission: str
    error: PermissionDenied | None = None
    event: AuditEvent | None = None
    events: list[AuditEvent] = field(default_factory=list)


def _ids(host: Host) -> set[str]:
    return {e.id for e in audit_events(host, kind="denied")}


@contextlib.contextmanager
def denied(host: Host, permission: str, *, plugin: str | None = None) -> Iterator[Denial]:
    """Assert the block raises ``PermissionDenied`` for ``permission``, and ``host`` recorded it.

    The record must be a ``denied`` event with decision ``deny`` whose
    ``permission`` detail is ``permission`` (and of ``plugin``, if given),
    written while the block ran. Anything else fails with an
    ``AssertionError`` that says what did happen.
    """
    seen = _ids(host)
    outcome = Denial(permission)
    try:
        yield outcome
    except PermissionDenied as exc:
        outcome.error = exc
    if outcome.error is None:
        raise AssertionError(f"expected PermissionDenied for {permission!r}; nothing was raised")
    if outcome.error.permission != permission:
        raise AssertionError(
            f"PermissionDenied names {outcome.error.permission!r}, not {permission!r}: "
            f"{outcome.error}"
        )
    new = [e for e in audit_events(host, kind="denied", plugin=plugin) if e.id not in seen]
    outcome.events = new
    matching = [
        e for e in new if e.decision == "deny" and e.details.get("permission") == permission
    ]
    if not matching:
        recorded = [(e.plugin, e.details.get("permission")) for e in new] or "none"
        raise AssertionError(
            f"PermissionDenied for {permission!r} was raised but not recorded as a denied "
            f"event{f' of plugin {plugin!r}' if plugin else ''}; denials recorded meanwhile: "
            f"{recorded}"
        )
    outcome.event = matching[0]


def assert_denied(
    host: Host,
    action: Callable[..., object],
    *args: Any,
    permission: str,
    plugin: str | None = None,
    **kwargs: Any,
) -> Denial:
    """Call ``action(*args, **kwargs)`` under :func:`denied`; return what was seen.

    ``assert_denied(host, snoop.call, "read", "/etc/shadow",
    permission="file:read=/etc/shadow")`` is the one-line form.
    """
    with denied(host, permission, plugin=plugin) as outcome:
        action(*args, **kwargs)
    return outcome
