"""The host side: the Host facade, plugin handles, workers, the zygote client.

Resolved lazily (PEP 562), so importing one small piece (the token bucket a
compat decorator uses inside a pen) does not load the whole host.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corral.runtime.admin import HomeAdmin
    from corral.runtime.handle import PluginHandle
    from corral.runtime.hooks import HookResult
    from corral.runtime.host import Host
    from corral.runtime.monitor import Sample

_EXPORTS = {
    "HomeAdmin": "corral.runtime.admin",
    "Sample": "corral.runtime.monitor",
    "HookResult": "corral.runtime.hooks",
    "Host": "corral.runtime.host",
    "PluginHandle": "corral.runtime.handle",
}

__all__ = ["HomeAdmin", "HookResult", "Host", "PluginHandle", "Sample"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'corral.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
