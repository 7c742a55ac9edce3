"""Obfuscation: code that hides what it does from a reader.

Decoded data flowing into ``exec`` is tracked by the walker (a name assigned
from a decoding call stays marked within its function), so
``p = b64decode(s); exec(p)`` is caught, not only ``exec(b64decode(s))``.
"""

from __future__ import annotations

import ast
import re

from corral.vetting.rules.base import Context, Rule

DECODERS = frozenset(
    {
        "base64.b64decode",
        "base64.b32decode",
        "base64.b16decode",
        "base64.a85decode",
        "base64.b85decode",
        "base64.standard_b64decode",
        "base64.urlsafe_b64decode",
        "base64.decodebytes",
        "base64.decodestring",
        "zlib.decompress",
        "bz2.decompress",
        "lzma.decompress",
        "gzip.decompress",
        "binascii.unhexlify",
        "binascii.a2b_hex",
        "binascii.a2b_base64",
        "builtins.bytes.fromhex",
        "builtins.bytearray.fromhex",
        "codecs.decode",
        "marshal.loads",
    }
)
_RUNNERS = frozenset({"builtins.eval", "builtins.exec", "builtins.compile"})
_ENCODED_MIN = 200
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-\r\n]+={0,2}")
# Linear on purpose: no nested quantifiers, since the literal is the attacker's.
_HEX = re.compile(r"(?:\\x[0-9a-fA-F]{2})+|[0-9a-fA-F]+")
_CHR_MIN = 4


class DecodeToExec(Rule):
    """Base64, zlib or hex decoding whose result is executed: a hidden payload."""

    id = "CRL801"
    name = "decode-to-exec"
    family = "obfuscation"
    severity = "critical"
    summary = "executes data that was decoded at run time (base64, zlib, hex)"
    calls = _RUNNERS

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if ctx.decoded():
            name = (qual or "").removeprefix("builtins.")
            ctx.report(self, node, f"{name}() runs decoded data: a hidden payload")


class EncodedLiteral(Rule):
    """A long base64 or hex literal: a payload shipped as data."""

    id = "CRL802"
    name = "encoded-literal"
    family = "obfuscation"
    severity = "medium"
    confidence = "medium"
    summary = "contains a long base64 or hex encoded literal"
    constants = True

    def on_constant(self, ctx: Context, node: ast.Constant, value: str) -> None:
        if len(value) < _ENCODED_MIN or " " in value[:_ENCODED_MIN]:
            return
        if _HEX.fullmatch(value):
            kind = "hex"
        elif _BASE64.fullmatch(value) and any(c.isdigit() for c in value):
            kind = "base64"
        else:
            return
        ctx.report(self, node, f"a {len(value)}-character {kind} literal: an encoded payload?")


class ChrChain(Rule):
    """Strings assembled from ``chr()`` codes, so no reader or grep sees them."""

    id = "CRL803"
    name = "chr-chain"
    family = "obfuscation"
    severity = "medium"
    summary = "builds a string from chr() codes"
    every_call = True
    concats = True

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "join" and node.args):
            return
        arg = node.args[0]
        if isinstance(arg, ast.GeneratorExp | ast.ListComp) and _is_chr(ctx, arg.elt):
            ctx.report(self, node, "joins chr() codes into a string")
        elif (
            isinstance(arg, ast.Call)
            and ctx.resolve(arg.func) == "builtins.map"
            and arg.args
            and ctx.resolve(arg.args[0]) == "builtins.chr"
        ):
            ctx.report(self, node, "joins map(chr, ...) into a string")

    def on_concat(self, ctx: Context, node: ast.BinOp) -> None:
        """Counts the ``chr()`` calls in the chain."""
        count, stack = 0, list[ast.expr]([node])
        while stack:
            item = stack.pop()
            if isinstance(item, ast.BinOp) and isinstance(item.op, ast.Add):
                stack.extend((item.left, item.right))
            elif _is_chr(ctx, item):
                count += 1
        if count >= _CHR_MIN:
            ctx.report(self, node, f"concatenates {count} chr() codes into a string")


def _is_chr(ctx: Context, node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and ctx.resolve(node.func) == "builtins.chr"
