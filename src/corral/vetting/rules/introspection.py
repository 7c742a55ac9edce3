"""Introspection escapes: the attribute chains sandbox escapes are built from."""

from __future__ import annotations

import ast

from corral.vetting.rules.base import Context, Rule

_ATTRS = frozenset(
    {
        "__subclasses__",
        "__globals__",
        "__builtins__",
        "__code__",
        "__closure__",
        "__bases__",
        "__mro__",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
    }
)
# Read by ordinary metaprogramming too (typing, dataclass helpers): flagged, but medium.
_COMMON = frozenset(
    {"__code__", "__closure__", "__bases__", "__mro__", "f_code", "gi_code", "cr_code", "ag_code"}
)
_CALLS = frozenset(
    {"sys._getframe", "inspect.currentframe", "inspect.stack", "gc.get_objects", "gc.get_referrers"}
)


class IntrospectionEscape(Rule):
    """``__subclasses__``, ``__globals__``, frames: reaching objects nobody handed you."""

    id = "CRL701"
    name = "introspection-escape"
    family = "introspection"
    severity = "high"
    summary = "walks interpreter internals (__subclasses__, __globals__, frames)"
    attributes = _ATTRS
    calls = _CALLS
    constants = True

    def on_attribute(self, ctx: Context, node: ast.Attribute | ast.Name, attr: str) -> None:
        ctx.report(
            self,
            node,
            f"uses {attr}: reaches interpreter internals",
            severity="medium" if attr in _COMMON else None,
        )

    def on_constant(self, ctx: Context, node: ast.Constant, value: str) -> None:
        # getattr(f, "__globals__"), vars(x)["__builtins__"]: the name spelled as data
        if value in _ATTRS:
            ctx.report(
                self,
                node,
                f"names {value!r}: reaches interpreter internals",
                severity="medium" if value in _COMMON else None,
            )

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        ctx.report(
            self, node, f"calls {qual}(): reaches other code's frames or objects", severity="medium"
        )
