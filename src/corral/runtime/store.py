"""Copy a plugin's files into a read-only, content-addressed store before it runs.

The worker imports only from the store, so a file changed in the original
directory after load never runs, and a pen's unprivileged uid can read the
copy wherever the host keeps its home. Signature checks and archive hygiene
build on this (the trust issue); here the digest covers every file's path and
bytes, and links are refused rather than followed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

from corral.errors import PluginValidationError

_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn"})


def _files(root: Path, plugin: str) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
                raise PluginValidationError(
                    plugin, f"{path.relative_to(root)} is not a regular file"
                )
            if not name.endswith((".pyc", ".pyo")):
                found.append(path)
    return found


def digest_tree(root: Path, plugin: str) -> str:
    """SHA-256 over every (relative path, file digest) pair, in sorted order."""
    outer = hashlib.sha256()
    for path in _files(root, plugin):
        outer.update(str(path.relative_to(root)).encode() + b"\0")
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.hexdigest()


def store_plugin(source: str | os.PathLike[str], store: Path, plugin: str) -> Path:
    """Copy ``source`` into ``store/<digest>`` (once) and return that directory."""
    root = Path(source).resolve()
    digest = digest_tree(root, plugin)
    target = store / digest
    if target.is_dir():
        return target
    store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=store, prefix=".staging-"))
    try:
        for path in _files(root, plugin):
            dest = staging / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            dest.chmod(0o444)
        for dirpath, _, _ in os.walk(staging):
            os.chmod(dirpath, 0o555)  # noqa: S103 - read-only for everyone is the point
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
