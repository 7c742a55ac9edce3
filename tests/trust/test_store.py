"""The verified store: read-only, named by content, shared by a directory and its archive."""

from __future__ import annotations

import os
import stat

import pytest

from corral.errors import TrustError
from corral.trust import Store, pack

from ._crafted import make_plugin


def test_store_entry_is_read_only_and_named_by_digest(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p", **{"lib/util.py": b"u = 1\n"})
    verifier = verifier_for()
    verified = verifier.verify(plugin)
    stored = verifier.install(verified)
    assert stored.name == verified.digest
    assert (stored / "lib" / "util.py").read_bytes() == b"u = 1\n"
    for path in [stored, *stored.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert not mode & 0o222, f"{path} is writable ({oct(mode)})"


def test_a_directory_and_its_archive_share_one_entry(tmp_path, verifier_for):
    plugin = make_plugin(tmp_path / "p")
    archive = pack(plugin, tmp_path / "p.corral")
    verifier = verifier_for()
    assert verifier.verify(plugin).digest == verifier.verify(archive).digest


def test_store_refuses_bytes_that_do_not_make_the_digest(tmp_path):
    with pytest.raises(TrustError, match=r"do not make digest"):
        Store(tmp_path).put("0" * 64, {"a.py": b"x"})
    assert [p for p in os.listdir(tmp_path) if not p.startswith(".")] == []


def test_install_writes_the_checked_bytes_not_a_fresh_read(tmp_path, verifier_for):
    """A file changed between verification and install: the store gets what was checked."""
    plugin = make_plugin(tmp_path / "p")
    verifier = verifier_for()
    verified = verifier.verify(plugin)
    (plugin / "main.py").write_text("raise SystemExit('swapped after the check')\n")
    stored = verifier.install(verified)
    assert b"signed bytes" in (stored / "main.py").read_bytes()
