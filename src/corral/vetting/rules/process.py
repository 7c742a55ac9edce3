"""Process spawning: anything that starts another program."""

from __future__ import annotations

import ast

from corral.vetting.rules.base import Context, Rule, keyword

_SUBPROCESS = frozenset(
    f"subprocess.{n}"
    for n in ("run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput")
)
_EXEC = frozenset(
    f"os.{n}"
    for n in (
        "execl",
        "execle",
        "execlp",
        "execlpe",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnlpe",
        "spawnv",
        "spawnve",
        "spawnvp",
        "spawnvpe",
        "posix_spawn",
        "posix_spawnp",
        "fork",
        "forkpty",
    )
) | frozenset({"pty.spawn", "asyncio.create_subprocess_exec", "multiprocessing.Process"})
_SHELL = frozenset(
    {
        "os.system",
        "os.popen",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "asyncio.create_subprocess_shell",
        "commands.getoutput",
    }
)


def _shell_true(node: ast.Call) -> bool:
    value = keyword(node, "shell")
    return not (value is None or (isinstance(value, ast.Constant) and not value.value))


class ProcessSpawn(Rule):
    """Starting a program without a shell: needs ``subprocess:execute``."""

    id = "CRL201"
    name = "process-spawn"
    family = "process"
    severity = "medium"
    summary = "starts another program"
    needs = "subprocess:execute"
    calls = (_SUBPROCESS | _EXEC) - _SHELL

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in _SUBPROCESS and _shell_true(node):
            return
        if qual in ("multiprocessing.Process", "os.fork", "os.forkpty"):
            ctx.report(self, node, f"calls {qual}(): starts another process", needs="")
            return
        ctx.report(self, node, f"calls {qual}(): starts another program")


class ShellCommand(Rule):
    """A command line run by a shell: injection-prone and hard to confine by path."""

    id = "CRL202"
    name = "shell-command"
    family = "process"
    severity = "high"
    summary = "runs a command line through a shell"
    needs = "subprocess:execute"
    calls = _SHELL | _SUBPROCESS

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in _SHELL:
            ctx.report(self, node, f"calls {qual}(): runs a command line through /bin/sh")
        elif _shell_true(node):
            ctx.report(self, node, f"calls {qual}(shell=True): runs a command line through /bin/sh")
