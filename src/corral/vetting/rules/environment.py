"""The environment: reading variables whose names say they hold secrets."""

from __future__ import annotations

import ast
import re

from corral.vetting.rules.base import Context, Rule, literal_str

# Same idea as the host's env filter (runtime/pen.py), which vetting may not import.
SECRET_NAME = re.compile(
    r"(KEY|TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|AUTH|PRIVATE|SESSION|COOKIE)", re.IGNORECASE
)
_ENVIRON = frozenset({"os.environ", "os.environb"})
_GETTERS = frozenset(
    {
        "os.getenv",
        "os.getenvb",
        "os.environ.get",
        "os.environ.pop",
        "os.environ.setdefault",
        "os.environb.get",
    }
)
_DUMPS = frozenset({"os.environ.copy", "os.environ.items", "os.environ.values"})


class SecretEnv(Rule):
    """``os.environ["API_TOKEN"]`` and friends: needs ``env:read=API_TOKEN``.

    Reading ``HOME`` or ``TZ`` is ordinary and not flagged; dumping the whole
    environment is, because it reads every secret at once.
    """

    id = "CRL901"
    name = "secret-env"
    family = "environment"
    severity = "medium"
    summary = "reads a secret-looking environment variable"
    needs = "env:read"
    calls = _GETTERS | _DUMPS | {"builtins.dict"}
    subscripts = True

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in _DUMPS or (
            qual == "builtins.dict" and node.args and ctx.resolve(node.args[0]) in _ENVIRON
        ):
            ctx.report(
                self, node, "copies the whole environment (every secret in it)", needs="env:read=*"
            )
            return
        if qual in _GETTERS and node.args:
            self._name(ctx, node, literal_str(node.args[0]))

    def on_subscript(self, ctx: Context, node: ast.Subscript, qual: str) -> None:
        if qual in _ENVIRON:
            self._name(ctx, node, literal_str(node.slice))

    def _name(self, ctx: Context, node: ast.AST, name: str | None) -> None:
        if name is not None and SECRET_NAME.search(name):
            ctx.report(self, node, f"reads secret-looking ${name}", needs=f"env:read={name}")
