"""Crafted packages for trust tests: real directories, real zips, real keys.

Shared with tests/runtime and tests/cli, which load these packages through the host and CLI.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corral.trust import KeyEntry, keys, sign_package

MANIFEST = """\
name: {name}
version: {version}
entry: main:Hello
tier: {tier}
"""
CODE = """\
import corral


class Hello(corral.Plugin):
    def hello(self):
        return "hello from the signed bytes"
"""


def make_plugin(root: Path, *, name="signed-hello", version="1.0.0", tier="community", **extra):
    """A plugin directory with plugin.yaml, main.py and any ``extra`` files (path: bytes)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "plugin.yaml").write_text(MANIFEST.format(name=name, version=version, tier=tier))
    (root / "main.py").write_text(CODE)
    for rel, data in extra.items():
        path = root / rel.replace("__SLASH__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def entry_for(key, *, tier="professional", publisher="acme", **fields) -> KeyEntry:
    public = key.public_key()
    return KeyEntry(
        keyid=keys.keyid(public),
        publisher=publisher,
        tier=tier,
        public_key=keys.public_pem(public),
        **fields,
    )


def sign(path, key, *, publisher="acme", days=365, start=None):
    start = start or datetime.now(UTC) - timedelta(minutes=1)
    return sign_package(
        path, key, publisher=publisher, valid_for=timedelta(days=days), not_before=start
    )


def zip_with(path: Path, entries):
    """A zip from (ZipInfo-or-name, bytes) pairs, written as given (no hygiene)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path
