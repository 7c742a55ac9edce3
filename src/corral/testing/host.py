"""A real :class:`corral.Host` on a throwaway home, gone when the block ends.

A test of an integration should run the real pens, not a stand-in, and
leave nothing behind for the next test to trip over: no worker, no cgroup,
no store. ``Host.close`` ends the processes and groups; this module adds the
home directory and its removal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corral.runtime import Host


@contextlib.contextmanager
def temporary_home(prefix: str = "corral-home-") -> Iterator[Path]:
    """A fresh, empty corral home, removed afterwards.

    The directory is searchable by others (0755) because with
    ``isolation="process"`` the pen's unprivileged uid opens its store copy by
    its host path; a private directory (such as pytest's ``tmp_path``) would
    make that host refuse to start the pen.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def temporary_host(**host_kwargs: Any) -> Iterator[Host]:
    """``Host(**host_kwargs)`` on a :func:`temporary_home`, closed and removed afterwards.

    The audit log defaults to ``"memory"`` (query it with
    :func:`corral.testing.audit_events`). ``audit=None`` gives the host's own
    default instead (``$CORRAL_AUDIT_URL``, the policy's ``audit``, else
    SQLite in the temporary home), to test the stored log. Passing ``home=``
    uses that directory and leaves it in place: it is the caller's.
    """
    host_kwargs.setdefault("audit", "memory")
    given: str | os.PathLike[str] | None = host_kwargs.pop("home", None)
    with contextlib.ExitStack() as stack:
        home = given if given is not None else stack.enter_context(temporary_home())
        host = stack.enter_context(Host(home=home, **host_kwargs))
        yield host
