"""corral.testing: test an application that embeds corral, or a plugin, against real pens.

Nothing here stands in for the sandbox: :func:`temporary_host` is a real
``Host`` on a throwaway home, :class:`FakeClock` replaces only the wall clock
the host reads, and :func:`assert_denied` checks a refusal the way corral's
own tests do, by the exception and by the audit record together. The pytest
fixtures (``corral_home``, ``corral_host``) live in
:mod:`corral.testing.pytest_plugin`, loaded by pytest on its own.
"""

from __future__ import annotations

from corral.testing.audit import Denial, assert_denied, audit_events, denied
from corral.testing.clock import FakeClock
from corral.testing.host import temporary_home, temporary_host

__all__ = [
    "Denial",
    "FakeClock",
    "assert_denied",
    "audit_events",
    "denied",
    "temporary_home",
    "temporary_host",
]
