"""Native code: ctypes and cffi reach past everything the interpreter can see."""

from __future__ import annotations

import ast

from corral.vetting.rules.base import Context, Rule

_NATIVE = ("ctypes", "_ctypes", "cffi", "_cffi_backend")


class NativeCode(Rule):
    """Importing ctypes or cffi: the guard cannot see what native calls do.

    The kernel layers still confine it (DESIGN.md); the finding tells the
    reviewer that the guard's clear errors will not cover this code.
    """

    id = "CRL301"
    name = "native-code"
    family = "native"
    severity = "medium"
    summary = "loads native code through ctypes or cffi"
    imports = True

    def on_import(self, ctx: Context, node: ast.AST, module: str) -> None:
        if module.partition(".")[0] in _NATIVE:
            ctx.report(self, node, f"imports {module}: native calls bypass the guard")
