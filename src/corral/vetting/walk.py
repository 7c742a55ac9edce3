"""The single pass: one walk over a module's AST feeds every rule.

Speed comes from here. Rules register what they want (resolved call names,
attribute names, literals, imports) and the walker looks each node up in a
few dictionaries built once per rule set, instead of each rule walking the
tree. Calls are judged after their arguments, so whether decoded data flows
into ``exec`` is known when ``exec`` is judged.

Scoping is deliberately simple: bindings are module-wide and follow the order
of the source. That resolves the aliasing real code uses; a name rebound to
something unknown stops resolving rather than resolving wrongly.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from typing import Any

from corral.vetting.finding import Confidence, Finding, Severity, fingerprint
from corral.vetting.rules import RULES
from corral.vetting.rules.base import Rule, literal_str
from corral.vetting.rules.obfuscation import DECODERS
from corral.vetting.symbols import Symbols

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTERS = frozenset({"builtins.__import__", "importlib.import_module"})


class RuleSet:
    """Rules indexed by what they want to see; build once, use for many files."""

    def __init__(self, rules: Iterable[Rule] | None = None) -> None:
        self.rules = tuple(rules) if rules is not None else tuple(r() for r in RULES)
        self.by_call: dict[str, list[Rule]] = {}
        self.by_attr: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for qual in rule.calls:
                self.by_call.setdefault(qual, []).append(rule)
            for attr in rule.attributes:
                self.by_attr.setdefault(attr, []).append(rule)
        self.every_call = [r for r in self.rules if r.every_call]
        self.constants = [r for r in self.rules if r.constants]
        self.imports = [r for r in self.rules if r.imports]
        self.subscripts = [r for r in self.rules if r.subscripts]
        self.concats = [r for r in self.rules if r.concats]


class Walker:
    """Walks one module once, asking each interested rule about each node."""

    def __init__(self, path: str, rules: RuleSet) -> None:
        self.path = path
        self.rules = rules
        self.symbols = Symbols()
        self.findings: list[Finding] = []
        self._scope: list[str] = []
        self._taint: list[set[str]] = [set()]
        self._decoded = False
        self._judging_decoded = False
        self._seen: dict[tuple[str, str, str], int] = {}

    # --- what rules may ask (corral.vetting.rules.base.Context) ----------------

    def resolve(self, node: ast.expr) -> str | None:
        return self.symbols.resolve(node)

    def decoded(self) -> bool:
        return self._judging_decoded

    def report(
        self,
        rule: Rule,
        node: ast.AST,
        message: str,
        *,
        needs: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
    ) -> None:
        scope = ".".join(self._scope) or "<module>"
        source = _source(node)
        key = (rule.id, scope, source)
        occurrence = self._seen.get(key, 0)
        self._seen[key] = occurrence + 1
        self.findings.append(
            Finding(
                rule=rule.id,
                name=rule.name,
                severity=severity or rule.severity,
                confidence=confidence or rule.confidence,
                path=self.path,
                line=getattr(node, "lineno", 1),
                col=getattr(node, "col_offset", 0) + 1,
                message=message,
                needs=rule.needs if needs is None else needs,
                fingerprint=fingerprint(rule.id, self.path, scope, source, occurrence),
                scope=scope,
                subject=self._subject(node, source),
            )
        )

    def _subject(self, node: ast.AST, source: str) -> str:
        """What the finding is about, short: the resolved callee, else the source."""
        if isinstance(node, ast.Call):
            qual = self.symbols.resolve(node.func)
            if qual is not None:
                return qual.removeprefix("builtins.")
        return source if len(source) <= 60 else source[:57] + "..."

    # --- the walk ---------------------------------------------------------------

    def run(self, tree: ast.Module) -> list[Finding]:
        for stmt in tree.body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                self.symbols.bind_import(stmt)
            elif isinstance(stmt, _SCOPES):
                self.symbols.shadow(stmt.name)
        self._visit(tree)
        self.findings.sort(key=lambda f: (f.line, f.col, f.rule))
        return self.findings

    def _visit(self, node: ast.AST) -> None:
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node)
        else:
            self._children(node)

    def _children(self, node: ast.AST) -> None:
        # ast.iter_child_nodes, minus its generator and the ``ctx`` leaves
        # (Load/Store) that carry nothing: most of a walk's time is here.
        handlers = _HANDLERS
        for name in _fields(type(node)):
            value = getattr(node, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        handler = handlers.get(type(item))
                        if handler is not None:
                            handler(self, item)
                        else:
                            self._children(item)
            elif isinstance(value, ast.AST):
                handler = handlers.get(type(value))
                if handler is not None:
                    handler(self, value)
                else:
                    self._children(value)

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.symbols.shadow(node.name)
        self._scope.append(node.name)
        self._taint.append(set())
        if isinstance(node, ast.ClassDef):
            params: frozenset[str] = frozenset()
        else:
            # decorators, defaults and annotations run at def time, outside the body
            for outer in _outside(node):
                self._visit(outer)
            params = _params(node.args)
        self.symbols.enter(params)
        try:
            if isinstance(node, ast.ClassDef):
                self._children(node)
            else:
                for stmt in node.body:
                    self._visit(stmt)
        finally:
            self.symbols.leave()
            self._scope.pop()
            self._taint.pop()

    def _lambda(self, node: ast.Lambda) -> None:
        for outer in (*node.args.defaults, *node.args.kw_defaults):
            if outer is not None:
                self._visit(outer)
        self.symbols.enter(_params(node.args))
        try:
            self._visit(node.body)
        finally:
            self.symbols.leave()

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        modules = self.symbols.bind_import(node)
        for rule in self.rules.imports:
            for module in modules:
                rule.on_import(self, node, module)

    def _call(self, node: ast.Call) -> None:
        outer = self._decoded
        self._decoded = False
        self._children(node)
        qual = self.symbols.resolve(node.func)
        decoded = self._decoded
        self._judging_decoded = decoded
        if qual is not None:
            for rule in self.rules.by_call.get(qual, ()):
                rule.on_call(self, node, qual)
            if qual in _IMPORTERS and node.args:
                module = literal_str(node.args[0])
                if module is not None:
                    for rule in self.rules.imports:
                        rule.on_import(self, node, module)
            if qual in DECODERS:
                decoded = True
        for rule in self.rules.every_call:
            if qual is None or rule not in self.rules.by_call.get(qual, ()):
                rule.on_call(self, node, qual)
        self._judging_decoded = False
        self._decoded = outer or decoded

    def _attribute(self, node: ast.Attribute) -> None:
        for rule in self.rules.by_attr.get(node.attr, ()):
            rule.on_attribute(self, node, node.attr)
        self._visit(node.value)

    def _name(self, node: ast.Name) -> None:
        for rule in self.rules.by_attr.get(node.id, ()):
            rule.on_attribute(self, node, node.id)
        if isinstance(node.ctx, ast.Load) and node.id in self._taint[-1]:
            self._decoded = True

    def _constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            for rule in self.rules.constants:
                rule.on_constant(self, node, value)

    def _expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # a docstring or bare string: prose, not data the code uses
        self._visit(node.value)

    def _assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        if node.value is None:
            return
        outer = self._decoded
        self._decoded = False
        self._visit(node.value)
        decoded = self._decoded
        self._decoded = outer
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                self.symbols.bind(target.id, _alias(self.symbols, node.value))
                if decoded:
                    self._taint[-1].add(target.id)
                else:
                    self._taint[-1].discard(target.id)
            else:
                self._visit(target)

    def _subscript(self, node: ast.Subscript) -> None:
        if self.rules.subscripts:
            qual = self.symbols.resolve(node.value)
            if qual is not None:
                for rule in self.rules.subscripts:
                    rule.on_subscript(self, node, qual)
        self._children(node)

    def _binop(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Add) and self.rules.concats:
            for rule in self.rules.concats:
                rule.on_concat(self, node)
            self._concat_children(node)
        else:
            self._children(node)

    def _concat_children(self, node: ast.BinOp) -> None:
        """The operands of a ``+`` chain, without judging its inner links as chains again."""
        for side in (node.left, node.right):
            if isinstance(side, ast.BinOp) and isinstance(side.op, ast.Add):
                self._concat_children(side)
            else:
                self._visit(side)


def _outside(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    """The parts of a def evaluated when it is defined, in the enclosing scope."""
    args = node.args
    every = (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
    found = [*node.decorator_list, *args.defaults]
    found += [d for d in args.kw_defaults if d is not None]
    found += [a.annotation for a in every if a is not None and a.annotation is not None]
    if node.returns is not None:
        found.append(node.returns)
    return found


def _params(args: ast.arguments) -> frozenset[str]:
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return frozenset(names)


_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _fields(kind: type[ast.AST]) -> tuple[str, ...]:
    found = _FIELDS.get(kind)
    if found is None:
        found = _FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
    return found


def _alias(symbols: Symbols, value: ast.expr) -> str | None:
    """What ``name = value`` makes ``name`` mean, when that is a plain reference."""
    if isinstance(value, ast.Name | ast.Attribute) or (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "getattr"
    ):
        return symbols.resolve(value)
    return None


def _source(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except (ValueError, RecursionError):  # pragma: no cover - unparse of a parsed tree
        return ast.dump(node)


_HANDLERS: dict[type[ast.AST], Callable[[Walker, Any], None]] = {
    ast.FunctionDef: Walker._scoped,
    ast.AsyncFunctionDef: Walker._scoped,
    ast.ClassDef: Walker._scoped,
    ast.Lambda: Walker._lambda,
    ast.Import: Walker._import,
    ast.ImportFrom: Walker._import,
    ast.Call: Walker._call,
    ast.Attribute: Walker._attribute,
    ast.Name: Walker._name,
    ast.Constant: Walker._constant,
    ast.Expr: Walker._expr,
    ast.Assign: Walker._assign,
    ast.AnnAssign: Walker._assign,
    ast.Subscript: Walker._subscript,
    ast.BinOp: Walker._binop,
}
