"""Both database backends behind one fixture, so every store test runs against each.

PostgreSQL comes from tests/postgres.py (a throwaway cluster, one database per test).
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.postgres import Backend


@pytest.fixture
def sqlite_backend(tmp_path):
    path = tmp_path / "corral.db"
    return Backend("sqlite", str(path), lambda: sqlite3.connect(path))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    """Each store test runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_backend")
