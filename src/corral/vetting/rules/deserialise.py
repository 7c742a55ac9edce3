"""Unsafe deserialisation: formats whose loading runs code chosen by the data."""

from __future__ import annotations

import ast

from corral.vetting.rules.base import Context, Rule, keyword

_UNSAFE = frozenset(
    {
        "pickle.load",
        "pickle.loads",
        "pickle.Unpickler",
        "_pickle.load",
        "_pickle.loads",
        "cPickle.load",
        "cPickle.loads",
        "marshal.load",
        "marshal.loads",
        "shelve.open",
        "shelve.DbfilenameShelf",
        "dill.load",
        "dill.loads",
        "cloudpickle.load",
        "cloudpickle.loads",
        "jsonpickle.decode",
        "joblib.load",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
    }
)
_YAML = frozenset({"yaml.load", "yaml.load_all"})
_SAFE_LOADERS = frozenset({"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader"})


class UnsafeDeserialisation(Rule):
    """pickle, marshal, shelve, unsafe YAML: loading runs whatever the bytes say."""

    id = "CRL601"
    name = "unsafe-deserialisation"
    family = "deserialisation"
    severity = "high"
    summary = "deserialises a format whose loading can run code (pickle, marshal)"
    calls = _UNSAFE | _YAML

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        if qual in _YAML:
            loader = keyword(node, "Loader")
            if loader is None and len(node.args) > 1:
                loader = node.args[1]
            if loader is not None and ctx.resolve(loader) in _SAFE_LOADERS:
                return
            ctx.report(self, node, f"calls {qual}() without a safe loader: can build any object")
            return
        ctx.report(self, node, f"calls {qual}(): loading can run code chosen by the data")
