"""Plans and directories for pens built by the sandbox tests.

A pen needs to keep running Python after it is confined, so every plan here
grants read access to the interpreter, the venv and corral's own sources; the
rest is what each test attacks. The plugin and work sources live under
/var/tmp in a world-traversable directory: a pen runs as an unprivileged uid
that could not enter pytest's 0700 tmp_path, and a source under /tmp would be
hidden by the pen's own /tmp, so a test could pass for the wrong reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import corral
from corral.policy.plan import PEN_PLUGIN_DIR, PEN_WORK_DIR, EnforcementPlan
from corral.sandbox.apply import confine
from tests.conftest import SABOTAGE
from tests.sandbox._forkrun import SAFETY_ALARM_SECONDS, Channel

PEN_UID = 64123
"""The unprivileged uid (and gid) root-run pens drop to; not in /etc/passwd on purpose."""
NOBODY = 65534

RUNTIME_PATHS = tuple(
    dict.fromkeys(
        [
            sys.prefix,
            sys.base_prefix,
            "/usr",
            "/lib",
            "/lib64",
            "/etc/ld.so.cache",
            "/dev/null",
            "/proc",
            str(Path(corral.__file__).parents[2]),  # the checkout: src/ and tests/
            PEN_PLUGIN_DIR,
        ]
    )
)
PLUGIN_FILE = "plugin.py"
PLUGIN_TEXT = "VALUE = 'original plugin code'\n"


@dataclass(frozen=True)
class PenDirs:
    """Host-side sources of one pen's plugin dir (read-only inside) and work dir."""

    root: Path
    plugin: Path
    work: Path


@pytest.fixture
def pen_dirs() -> Iterator[PenDirs]:
    root = Path("/var/tmp") / f"corral-sandbox-test-{uuid.uuid4().hex[:8]}"
    plugin, work = root / "plugin", root / "work"
    for path in (root, plugin, work):
        path.mkdir(mode=0o755)
    (plugin / PLUGIN_FILE).write_text(PLUGIN_TEXT)
    (plugin / PLUGIN_FILE).chmod(0o644)
    os.chown(work, PEN_UID, PEN_UID)
    yield PenDirs(root, plugin, work)
    shutil.rmtree(root, ignore_errors=True)


def base_plan(dirs: PenDirs, **changes: object) -> EnforcementPlan:
    """A plan with every layer on (but those the sabotage run switches off)."""
    plan = EnforcementPlan(
        read_paths=RUNTIME_PATHS,
        write_paths=("/tmp", "/dev/shm"),
        plugin_dir=PEN_PLUGIN_DIR,
        work_dir=PEN_WORK_DIR,
        plugin_source=str(dirs.plugin),
        work_source=str(dirs.work),
        env=(("HOME", PEN_WORK_DIR), ("LANG", "C.UTF-8"), ("PLUGIN_TOKEN", "granted")),
        pen_uid=PEN_UID,
        pen_gid=PEN_UID,
        disabled_layers=SABOTAGE,
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


@pytest.fixture
def make_plan(pen_dirs: PenDirs) -> Callable[..., EnforcementPlan]:
    """``make_plan(network="internal", off={"landlock"})``: the base plan, changed."""

    def make(*, off: frozenset[str] | set[str] = frozenset(), **changes: object) -> EnforcementPlan:
        return base_plan(pen_dirs, disabled_layers=SABOTAGE | frozenset(off), **changes)

    return make


def pen(plan: EnforcementPlan, act: Callable[[Channel], object], *, as_user: int = 0):
    """A child body: (optionally become ``as_user`` first,) confine to ``plan``, then ``act``.

    ``as_user`` exercises the unprivileged path: the same code, started by an
    ordinary uid instead of root.
    """

    def body(chan: Channel) -> object:
        if as_user:
            os.setgroups([])
            os.setresgid(as_user, as_user, as_user)
            os.setresuid(as_user, as_user, as_user)
        confine(plan, keep_fds=(chan.fileno(),))
        signal.alarm(SAFETY_ALARM_SECONDS)  # a forked pen does not inherit the relay's alarm
        return act(chan)

    return body


def pen_pid(outer: int) -> int:
    """The host pid of the pen behind ``outer`` (the relay that stays outside the pid ns)."""
    children = Path(f"/proc/{outer}/task/{outer}/children").read_text().split()
    assert len(children) == 1, f"expected one pen under the relay {outer}, found {children}"
    return int(children[0])


def proc_status(pid: int) -> dict[str, str]:
    """``/proc/<pid>/status`` as a dict, read from outside the pen."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}
