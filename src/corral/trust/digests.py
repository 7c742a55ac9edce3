"""SHA-256 of members and of a whole package, the one name a package goes by.

A package's digest is computed from its (path, file digest) pairs in sorted
order, never from an archive's bytes: a directory and the ``.corral`` zip of
the same files share one digest, so both land in one store entry, and the
statement's subject list alone is enough to name the store entry it proves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def package_digest(members: Iterable[tuple[str, str]]) -> str:
    """The digest of (relative POSIX path, hex SHA-256) pairs, in sorted order."""
    outer = hashlib.sha256()
    for name, digest in sorted(members):
        outer.update(name.encode("utf-8") + b"\0" + bytes.fromhex(digest))
    return outer.hexdigest()
