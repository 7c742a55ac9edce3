"""The shape every rule has, and the context the single pass hands it.

A rule never walks the tree itself. It says what it wants to see (calls to
some resolved names, attribute names, string constants, imports, or every
call) and the walker in ``corral.vetting.scan`` hands it exactly those
nodes, so adding a rule costs a dictionary entry per node, not a pass.
"""

from __future__ import annotations

import ast
from typing import ClassVar, Protocol

from corral.vetting.finding import Confidence, Severity


class Context(Protocol):
    """What a rule may ask of the walker."""

    def resolve(self, node: ast.expr) -> str | None: ...

    def decoded(self) -> bool:
        """Whether the call being judged has decoded data among its arguments."""
        ...

    def report(
        self,
        rule: Rule,
        node: ast.AST,
        message: str,
        *,
        needs: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
    ) -> None: ...


class Rule:
    """One check. Subclasses set the class attributes and override the hooks they use."""

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    severity: ClassVar[Severity] = "medium"
    confidence: ClassVar[Confidence] = "high"
    summary: ClassVar[str] = ""
    needs: ClassVar[str] = ""
    calls: ClassVar[frozenset[str]] = frozenset()
    attributes: ClassVar[frozenset[str]] = frozenset()
    every_call: ClassVar[bool] = False
    constants: ClassVar[bool] = False
    imports: ClassVar[bool] = False
    subscripts: ClassVar[bool] = False
    concats: ClassVar[bool] = False

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        """A call whose target resolved to one of ``calls`` (or any call if ``every_call``)."""

    def on_attribute(self, ctx: Context, node: ast.Attribute | ast.Name, attr: str) -> None:
        """An attribute (or bare name) spelled as one of ``attributes``."""

    def on_constant(self, ctx: Context, node: ast.Constant, value: str) -> None:
        """A string or bytes literal that is not a docstring."""

    def on_import(self, ctx: Context, node: ast.AST, module: str) -> None:
        """An import of ``module`` (also a literal ``__import__("m")``)."""

    def on_subscript(self, ctx: Context, node: ast.Subscript, qual: str) -> None:
        """``x[...]`` where ``x`` resolved to ``qual``."""

    def on_concat(self, ctx: Context, node: ast.BinOp) -> None:
        """The outermost ``a + b + ...`` of a chain."""


def keyword(node: ast.Call, name: str) -> ast.expr | None:
    """The value passed as ``name=`` in a call, if any."""
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    return None


def literal_str(node: ast.expr | None) -> str | None:
    """The value of a string literal, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def short(qual: str) -> str:
    """``builtins.eval`` -> ``eval``; other names stay dotted."""
    return qual.removeprefix("builtins.")
