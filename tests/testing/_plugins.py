"""Plugins the kit's tests write on the fly, each under a name of its own."""

from __future__ import annotations

import uuid
from pathlib import Path

SNOOP = """\
import corral

@corral.export
def plant(path):
    open(path, "w").write("gotcha")

@corral.export
def echo(value):
    return value
"""


def snoop(where: Path) -> tuple[Path, str]:
    """A plugin with no permissions that tries to write where it is told: (dir, name)."""
    name = f"snoop-{uuid.uuid4().hex[:8]}"
    plugin = where / name
    plugin.mkdir()
    (plugin / "plugin.yaml").write_text(f"name: {name}\nversion: 1.0.0\nentry: snoop\n")
    (plugin / "snoop.py").write_text(SNOOP)
    return plugin, name
