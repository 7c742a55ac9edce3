"""pytest fixtures for applications that embed corral: ``corral_home`` and ``corral_host``.

Registered through the ``pytest11`` entry point, so installing corral makes
them available in every test suite of the environment with no conftest
line (``-p no:corral`` turns them off). The module imports nothing of
corral's at collection time: a suite that never asks for the fixtures pays
nothing for them.

To give the host a policy, a clock or another isolation level, override
``corral_host_options`` in a conftest.py::

    @pytest.fixture
    def corral_host_options(corral_clock):
        return {"clock": corral_clock, "policy": AdminPolicy.from_dict({...})}
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from corral.runtime import Host
    from corral.testing.clock import FakeClock


@pytest.fixture
def corral_home() -> Iterator[Path]:
    """A fresh corral home for this test, removed after it (see ``temporary_home``)."""
    from corral.testing.host import temporary_home

    with temporary_home() as home:
        yield home


@pytest.fixture
def corral_clock() -> FakeClock:
    """A :class:`corral.testing.FakeClock` at the real time, for ``corral_host_options``."""
    from corral.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def corral_host_options() -> dict[str, Any]:
    """Keyword arguments for ``corral_host``'s ``Host``; override it to change them."""
    return {}


@pytest.fixture
def corral_host(corral_home: Path, corral_host_options: dict[str, Any]) -> Iterator[Host]:
    """A real ``Host`` on ``corral_home`` with an in-memory audit log, closed after the test."""
    from corral.testing.host import temporary_host

    with temporary_host(home=corral_home, **corral_host_options) as host:
        yield host
