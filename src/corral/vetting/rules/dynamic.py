"""Dynamic code: text turned into code at run time, where no reviewer can read it."""

from __future__ import annotations

import ast

from corral.vetting.rules.base import Context, Rule, literal_str, short


class DynamicCode(Rule):
    """``eval``, ``exec`` and ``compile``: the builtins, however they are reached.

    A method that happens to be called ``exec`` (a database cursor's) does not
    resolve to the builtin and is left alone; so is ``ast.literal_eval``.
    """

    id = "CRL101"
    name = "dynamic-code"
    family = "dynamic"
    severity = "high"
    summary = "runs code built at run time (eval, exec, compile)"
    calls = frozenset({"builtins.eval", "builtins.exec", "builtins.compile"})
    _builders = frozenset(
        {
            "types.FunctionType",
            "types.CodeType",
            "code.interact",
            "code.InteractiveConsole",
            "code.InteractiveInterpreter",
        }
    )
    calls = calls | _builders

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in self._builders:
            ctx.report(self, node, f"calls {qual}(): builds or runs code objects at run time")
            return
        literal = bool(node.args) and literal_str(node.args[0]) is not None
        ctx.report(
            self,
            node,
            f"calls {short(qual or '')}(): runs code built at run time",
            confidence="medium" if literal else "high",
        )


class DynamicImport(Rule):
    """Imports whose module name is computed, or code loaded from a path."""

    id = "CRL102"
    name = "dynamic-import"
    family = "dynamic"
    severity = "medium"
    summary = "imports a module whose name is computed at run time"
    _by_name = frozenset({"builtins.__import__", "importlib.import_module", "importlib.__import__"})
    _by_path = frozenset(
        {
            "imp.load_source",
            "imp.load_module",
            "importlib.util.spec_from_file_location",
            "importlib.machinery.SourceFileLoader",
            "runpy.run_path",
            "runpy.run_module",
            "zipimport.zipimporter",
        }
    )
    calls = _by_name | _by_path

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in self._by_name:
            if node.args and literal_str(node.args[0]) is not None:
                return
            ctx.report(self, node, f"calls {short(qual or '')}() with a computed module name")
            return
        ctx.report(self, node, f"calls {qual}(): loads code the import system did not vet")
