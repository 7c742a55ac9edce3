"""Helpers for the monitor, responses and lifecycle tests: a host with a policy and a clock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import corral
from corral.audit import MemorySink
from corral.policy import AdminPolicy
from tests.conftest import SABOTAGE


class Clock:
    """A clock the test moves by hand; the host reads it for windows and backoff."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def make_host(
    home: Path, policy: dict[str, Any] | None = None, audit: Any = None, **kwargs: Any
) -> Iterator[corral.Host]:
    with corral.Host(
        home=home,
        policy=AdminPolicy.from_dict(policy or {}),
        audit=audit if audit is not None else MemorySink(),
        unsafe_disable_layers=SABOTAGE,
        **kwargs,
    ) as host:
        yield host


def kinds(audit: Any, plugin: str, kind: str) -> list[Any]:
    return audit.query(plugin=plugin, kind=kind)


def responses(audit: Any, plugin: str) -> list[str]:
    return [e.details["action"] for e in audit.query(plugin=plugin, kind="response")]
