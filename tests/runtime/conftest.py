from __future__ import annotations

import pytest

import corral
from corral.audit import MemorySink
from tests.conftest import SABOTAGE


@pytest.fixture
def audit():
    return MemorySink()


@pytest.fixture
def host(tmp_path, audit):
    with corral.Host(home=tmp_path / "home", audit=audit, unsafe_disable_layers=SABOTAGE) as h:
        yield h
