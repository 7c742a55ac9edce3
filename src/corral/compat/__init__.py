"""The seeds' APIs as thin adapters over the core API, one module per seed.

Teams coming from the designs in ``shared/seeds`` keep their spellings; the
work is done by corral's own grant, pens, audit log and host. Names that two
seeds both use (``PluginSandbox``) are reached through their seed's module:
``corral.compat.seed002.PluginSandbox``, ``corral.compat.seed003.PluginSandbox``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "SecurityContext": "seed000",
    "audit_log": "seed000",
    "rate_limit": "seed000",
    "require_permission": "seed000",
    "require_permissions": "seed000",
    "security_monitor": "seed000",
    "validate_network_access": "seed000",
    "set_audit_sink": "seed000",
}

__all__ = [*sorted(_EXPORTS)]  # noqa: PLE0604


def __getattr__(name: str) -> Any:
    """Resolve lazily, so a plugin importing the decorators does not load the host's side."""
    module = _EXPORTS.get(name)
    if module is None:
        if name in ("seed000", "seed001", "seed002", "seed003"):
            return importlib.import_module(f"corral.compat.{name}")
        raise AttributeError(f"module 'corral.compat' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"corral.compat.{module}"), name)
    globals()[name] = value
    return value
