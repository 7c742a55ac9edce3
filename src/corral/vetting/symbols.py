"""What a name in a module refers to: imports, aliases and shadowed builtins.

Rules judge calls by what they resolve to, not by how they are spelled, so
``import subprocess as sp; sp.run()``, ``from os import system as s; s()``,
``run = subprocess.run; run()`` and ``getattr(os, "system")()`` all reach
the rule for ``os.system``-like calls, while ``cursor.exec()`` on some object
and a module's own function named ``eval`` reach nothing.
"""

from __future__ import annotations

import ast
import builtins

BUILTINS = frozenset(dir(builtins))


class Symbols:
    """The binding table of one module, filled while the single pass walks it."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._shadowed: set[str] = set()
        self._stars: list[str] = []
        self._params: list[frozenset[str]] = []

    def enter(self, params: frozenset[str]) -> None:
        """A function body begins: its parameters hide module names while it lasts."""
        self._params.append(params)

    def leave(self) -> None:
        self._params.pop()

    def bind_import(self, node: ast.Import | ast.ImportFrom) -> list[str]:
        """Record an import statement; returns the modules it imports."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self._names[alias.asname] = alias.name
                else:
                    head = alias.name.partition(".")[0]
                    self._names[head] = head
            return [alias.name for alias in node.names]
        module = ("." * node.level) + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self._stars.append(module)
                continue
            self._names[alias.asname or alias.name] = f"{module}.{alias.name}"
        return [module]

    def bind(self, name: str, qualified: str | None) -> None:
        """``name = <expr>``: an alias when the value resolved, else a shadowing."""
        if qualified is None:
            self._names.pop(name, None)
            self._shadowed.add(name)
        else:
            self._names[name] = qualified
            self._shadowed.discard(name)

    def shadow(self, name: str) -> None:
        """A def, class or parameter named ``name`` hides a builtin of that name."""
        self._names.pop(name, None)
        self._shadowed.add(name)

    def resolve(self, node: ast.expr) -> str | None:
        """The dotted name ``node`` refers to, or None when it is not statically known."""
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base is not None else None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and "getattr" not in self._shadowed
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            base = self.resolve(node.args[0])
            return f"{base}.{node.args[1].value}" if base is not None else None
        return None

    def name(self, name: str) -> str | None:
        for params in self._params:
            if name in params:
                return None
        found = self._names.get(name)
        if found is not None:
            return found
        if name in self._shadowed:
            return None
        if name in BUILTINS:
            return f"builtins.{name}"
        for module in self._stars:
            return f"{module}.{name}"
        return None
