"""Turn the paths audit events carry into the absolute paths a grant is written in.

The guard sees a path exactly as the plugin spelled it: relative, bytes, a
``PathLike``, relative to a ``dir_fd``, through symlinks. A grant speaks in
absolute paths, so every spelling must land on the file the kernel will
actually reach, or the guard would judge one file and the kernel open another.

Symlinks are the expensive part (``realpath`` costs a syscall per
component, and ``open`` fires for every import), so they are resolved only
where they can mislead:

* under a writable root (the work dir, the private /tmp): the plugin can
  plant a link there pointing anywhere, and ``$WORK/link -> /etc/shadow``
  must be judged as ``/etc/shadow``;
* in any path with a ``..`` component: ``normpath`` would fold
  ``$WORK/link/../x`` lexically, while the kernel follows ``link`` first.

Everywhere else the plugin cannot create links, so a link there was put by
the system (``/bin -> usr/bin``) and judging its spelling is what the grant
author sees. A pre-existing system link that leads into a writable root is
judged by its spelling, not its target; Landlock, which resolves everything,
is the barrier either way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def text(raw: object) -> str:
    """A path or name as an exact ``str``; bytes are decoded as the OS does.

    A ``str`` subclass is copied to a plain ``str`` first (``str.__str__``
    does not call overrides): the C code behind the event reads the raw
    characters, so the guard must not let overridden ``startswith`` or
    ``__eq__`` tell it something else.
    """
    if type(raw) is str:
        return raw
    if isinstance(raw, str):
        return str.__str__(raw)
    if isinstance(raw, bytes | os.PathLike):
        return text(os.fsdecode(raw))
    raise TypeError(f"expected a path, got {type(raw).__name__}")


def fd_path(fd: int) -> str:
    """The directory behind ``dir_fd``, from ``/proc/self/fd``.

    Refused when it is not a live absolute path (a deleted directory, a pipe):
    a relative path the guard cannot place is denied, not guessed.
    """
    target = os.readlink(f"/proc/self/fd/{fd}")
    if not target.startswith("/") or target.endswith(" (deleted)"):
        raise ValueError(f"dir_fd {fd} does not name a directory the guard can place ({target})")
    return target


class Paths:
    """Absolute, normalised paths, symlink-resolved where a plugin could plant links."""

    def __init__(self, writable_roots: Sequence[str]) -> None:
        roots: set[str] = set()
        for root in writable_roots:
            if root:
                roots.add(os.path.normpath(os.path.abspath(root)))
                roots.add(os.path.realpath(root))
        self._exact = frozenset(roots)
        self._under = tuple(r.rstrip("/") + "/" for r in sorted(roots))
        self._bare = tuple(sorted(roots))  # one cheap test first; most paths fail it

    def absolute(self, raw: object, dir_fd: object = None) -> str:
        """``raw`` made absolute (against ``dir_fd`` or the cwd) and normalised."""
        path = raw if type(raw) is str else text(raw)
        if path[:1] != "/":
            base = os.getcwd() if dir_fd is None or dir_fd == -1 else fd_path(_fd(dir_fd))
            path = f"{base}/{path}"
        if "/." in path or "//" in path or path[-1] == "/":
            if "/.." in path:
                return os.path.realpath(path)
            path = "/" + os.path.normpath(path).lstrip("/")
        if path.startswith(self._bare) and (path in self._exact or path.startswith(self._under)):
            return os.path.realpath(path)
        return path

    def fixed(self, raw: object, resolved: str) -> bool:
        """Whether ``raw`` means ``resolved`` whatever the cwd and the writable roots hold."""
        return raw == resolved and not resolved.startswith(self._bare)


def _fd(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"dir_fd must be an int, got {type(value).__name__}")
    return value
