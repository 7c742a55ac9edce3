"""Shared fixtures: real plugin directories and a host per test with its own home."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.engine import container_engine  # noqa: F401 - shared fixture
from tests.postgres import pg_server, postgresql_backend  # noqa: F401 - shared fixtures

PLUGINS = Path(__file__).parent / "plugins"

# The sabotage run (scripts/sabotage.py) turns one layer off for the whole suite.
SABOTAGE = frozenset(filter(None, os.environ.get("CORRAL_SABOTAGE", "").split(",")))


@pytest.fixture
def plugin_dir():
    """Path of a fixture plugin by name: plugin_dir('good')."""
    return lambda name: PLUGINS / name


@pytest.fixture
def outside(tmp_path_factory):
    """A directory outside every pen's view and grant, readable by anyone.

    Not under /tmp: each pen has a private /tmp, so a file there would be
    invisible rather than denied and a test would pass for the wrong reason.
    """
    root = Path("/var/tmp") / f"corral-test-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    (root / "secret.txt").write_text("TOPSECRET-outside-the-pen")
    (root / "secret.txt").chmod(0o644)
    yield root
    shutil.rmtree(root, ignore_errors=True)
