"""Process audit events: which program will really run, and with what environment.

A grant names executables by absolute, link-free path, so every spelling a
plugin can use (``echo``, ``/bin/echo``, a PATH from a custom env, a cwd)
is resolved the way the kernel will resolve it. The environment matters as
much as the program: ``LD_PRELOAD`` or ``PYTHONPATH`` handed to a granted
binary would run the plugin's own code outside what was granted, so those
variables never reach a child.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from corral.policy.decision import Request
from corral.worker._paths import Paths, text


def executable(raw: object, env: Any = None, cwd: object = None, search: bool = True) -> str:
    """The absolute, link-free path that will run, as the kernel will find it.

    A bare name is searched on the PATH the child will use (``env``'s, else
    ours), like subprocess does; ``realpath`` then makes ``echo``,
    ``/bin/echo`` and ``/usr/bin/echo`` one target. A name not found stays
    bare: nothing will run, and the check denies what it cannot match.
    """
    name = text(raw)
    base = os.path.join(os.getcwd(), text(cwd)) if cwd is not None else os.getcwd()
    if "/" not in name and search:
        found = shutil.which(name, path=os.pathsep.join(os.get_exec_path(env)))
        if found is None:
            return name
        name = found
    return os.path.realpath(os.path.join(base, name))


def _execute(target: str) -> tuple[Request, ...]:
    return (Request("subprocess", "execute", target),)


def popen(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``subprocess.Popen(executable, args, cwd, env)``; executable is args[0] if not given."""
    return _execute(executable(args[0], args[3], cwd=args[2]))


def system(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.system(command)``: what runs is the shell; the shell's children meet Landlock."""
    return _execute(executable("/bin/sh"))


def exec_(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.exec(path, args, env)``: execv takes the path literally (execvp loops in Python)."""
    return _execute(executable(args[0], search=False))


def posix_spawn(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.posix_spawn`` and ``posix_spawnp`` raise the same event.

    A bare name runs from the PATH (spawnp) or from the cwd (spawn); the event
    does not say which, so both candidates must be allowed.
    """
    path, _, env = args
    found = _execute(executable(path, env))
    if "/" in text(path) or not os.path.exists(text(path)):
        return found
    return found + _execute(executable(path, search=False))


def spawn(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``os.spawn(mode, path, args, env)``: Windows only, mapped so no platform is a gap."""
    return _execute(executable(args[1], search=False))


def pty_spawn(paths: Paths, args: tuple[Any, ...]) -> tuple[Request, ...]:
    """``pty.spawn(argv)``: argv is a string or a sequence, searched on our PATH."""
    argv = args[0]
    return _execute(executable(argv if isinstance(argv, str | bytes) else argv[0]))


ENV_STRIPPED = {"subprocess.Popen": 3}
"""Events whose env dict the child is built from after the hook: strip it in place."""

ENV_REFUSED = {"os.exec": 2, "os.posix_spawn": 2, "os.spawn": 3}
"""Events whose env was already copied when the hook runs (checked on 3.11.2):
stripping the dict would change nothing, so a loader variable there is refused."""

STRIPPED_PREFIXES = ("LD_", "PYTHON")
"""Variables that make a child load code of the plugin's choosing (LD_PRELOAD,
LD_LIBRARY_PATH, PYTHONPATH, PYTHONSTARTUP, ...)."""
