"""The verified store: ``$CORRAL_HOME/store/<digest>/``, read-only, content-addressed.

Only bytes that were hashed and checked are written, from the very buffers
that were checked (nothing is re-read from the package after the check), so a
file changed in the original directory after verification never runs: the
worker imports from here, with bytecode writing off. An entry is built in a
staging directory and renamed into place, so it either exists complete or
not at all, and two hosts storing the same package race harmlessly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from corral.errors import TrustError
from corral.trust.digests import package_digest, sha256_hex


class Store:
    """A directory of read-only package copies named by their digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_dir()

    def read(self, digest: str, name: str) -> bytes:
        return (self.path(digest) / name).read_bytes()

    def put(self, digest: str, files: Mapping[str, bytes]) -> Path:
        """Write ``files`` (already verified) as ``store/<digest>``; return that directory."""
        actual = package_digest((n, sha256_hex(b)) for n, b in files.items())
        if actual != digest:
            raise TrustError(f"store: files do not make digest {digest} (they make {actual})")
        target = self.path(digest)
        if target.is_dir():
            return target
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".staging-"))
        try:
            for name, data in files.items():
                dest = staging / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            for dirpath, _, _ in os.walk(staging):
                os.chmod(dirpath, 0o555)  # noqa: S103 - read-only for everyone is the point
            try:
                os.rename(staging, target)
            except OSError:
                if not target.is_dir():
                    raise
                _remove(staging)  # another host stored the same bytes first
        except BaseException:
            _remove(staging)
            raise
        return target


def _remove(path: Path) -> None:
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, ignore_errors=True)
