"""Files: destructive operations, and writes that would persist past the plugin."""

from __future__ import annotations

import ast
import re

from corral.vetting.rules.base import Context, Rule

_DELETE = frozenset(
    {
        "shutil.rmtree",
        "os.remove",
        "os.unlink",
        "os.rmdir",
        "os.removedirs",
        "os.truncate",
        "pathlib.Path.unlink",
        "pathlib.Path.rmdir",
    }
)
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.PurePath"})
_PERSIST = re.compile(
    r"(?:site-packages|dist-packages|\.pth\Z|(?:^|/)\.(?:bashrc|bash_profile|profile|zshrc)\Z"
    r"|(?:^|/)(?:sitecustomize|usercustomize)\.py\Z|/etc/cron)"
)
_SITE_CALLS = frozenset(
    {"site.getsitepackages", "site.getusersitepackages", "sysconfig.get_paths", "site.addsitedir"}
)


class DestructiveFile(Rule):
    """Deleting files or whole trees: needs ``file:delete`` (or ``file:write``)."""

    id = "CRL501"
    name = "destructive-file-op"
    family = "files"
    severity = "medium"
    summary = "deletes files or directories"
    needs = "file:delete"
    calls = _DELETE
    every_call = True

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in _DELETE:
            ctx.report(self, node, f"calls {qual}(): deletes files")
            return
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("unlink", "rmdir")
            and isinstance(func.value, ast.Call)
            and ctx.resolve(func.value.func) in _PATH_TYPES
        ):
            ctx.report(self, node, f"calls Path(...).{func.attr}(): deletes files")


class Persistence(Rule):
    """Writing where code runs at the next interpreter start: site-packages, ``.pth``, rc files.

    The pen makes these read-only; a plugin that tries is hostile, so the
    finding is high whatever the manifest says.
    """

    id = "CRL502"
    name = "persistence"
    family = "files"
    severity = "high"
    confidence = "medium"
    summary = "refers to site-packages, a .pth file or a shell start-up file"
    constants = True
    calls = _SITE_CALLS

    def on_constant(self, ctx: Context, node: ast.Constant, value: str) -> None:
        if len(value) <= 4096 and _PERSIST.search(value):
            ctx.report(self, node, f"names {value[:80]!r}: code there runs at interpreter start")

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        ctx.report(
            self,
            node,
            f"calls {qual}(): looks for the interpreter's start-up paths",
            confidence="high",
        )
