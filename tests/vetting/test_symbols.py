"""Alias resolution: how a spelling in the source maps to a dotted name."""

import ast

import pytest

from corral.vetting.symbols import Symbols


def resolve(source: str, expr: str) -> str | None:
    symbols = Symbols()
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            symbols.bind_import(stmt)
        elif isinstance(stmt, ast.Assign):
            target = stmt.targets[0]
            assert isinstance(target, ast.Name)
            symbols.bind(target.id, symbols.resolve(stmt.value))
        elif isinstance(stmt, ast.FunctionDef):
            symbols.shadow(stmt.name)
    return symbols.resolve(ast.parse(expr, mode="eval").body)


@pytest.mark.parametrize(
    ("source", "expr", "want"),
    [
        ("import subprocess as sp", "sp.run", "subprocess.run"),
        ("from os import system as s", "s", "os.system"),
        ("import os.path", "os.path.join", "os.path.join"),
        ("import urllib.request as ur", "ur.urlopen", "urllib.request.urlopen"),
        ("import os\nr = os.remove", "r", "os.remove"),
        ("import os", "getattr(os, 'system')", "os.system"),
        ("", "eval", "builtins.eval"),
        ("def eval(x): pass", "eval", None),
        ("import os\nos = 3", "os.system", None),
        ("", "cursor.exec", None),
        ("from pickle import *", "loads", "pickle.loads"),
    ],
)
def test_resolution(source, expr, want):
    assert resolve(source, expr) == want
