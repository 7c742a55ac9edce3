"""corral: run untrusted Python plugins in a pen the Linux kernel enforces.

The public API is resolved lazily (PEP 562): a plugin's ``import corral``
inside the pen loads only the plugin side (``Plugin``, ``export``, ``hook``,
``host`` and the errors), never the host's stores or CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # plugin side
    "Plugin": "corral.plugin",
    "export": "corral.plugin",
    "hook": "corral.plugin",
    "host": "corral.plugin",
    # errors
    "CorralError": "corral.errors",
    "PluginError": "corral.errors",
    "PermissionDenied": "corral.errors",
    "PluginTimeout": "corral.errors",
    "ResourceLimitExceeded": "corral.errors",
    "PluginCrashed": "corral.errors",
    "PluginFailed": "corral.errors",
    "PluginSuspended": "corral.errors",
    "TrustError": "corral.errors",
    "SignatureError": "corral.errors",
    "VettingError": "corral.errors",
    "HostError": "corral.errors",
    "ManifestError": "corral.errors",
    "ManifestIssue": "corral.errors",
    "PolicyError": "corral.errors",
    "PluginValidationError": "corral.errors",
    "SandboxUnavailable": "corral.errors",
    "ProtocolError": "corral.errors",
    "AuditError": "corral.errors",
    # bounds
    "Limits": "corral.limits",
    # vetting
    "Finding": "corral.vetting",
    "vet_plugin": "corral.vetting",
    "check_plugin": "corral.vetting",
    "VulnStore": "corral.vetting.vulns",
    "vuln_gate": "corral.vetting.vulns",
    "VulnCycle": "corral.runtime.vulncycle",
    "last_vuln_check": "corral.runtime.vulncycle",
    # host side
    "Host": "corral.runtime",
    "PluginHandle": "corral.runtime",
    # trust: packages, signatures, keyring
    "Keyring": "corral.trust",
    "KeyEntry": "corral.trust",
    "ReviewStore": "corral.trust",
    "Verifier": "corral.trust",
    "Verified": "corral.trust",
    "pack": "corral.trust",
    "sign_package": "corral.trust",
    "HookResult": "corral.runtime",
    "NetUsage": "corral.netproxy",
    # audit log
    "AuditEvent": "corral.audit",
    "open_store": "corral.audit",
    "HomeAdmin": "corral.runtime",
    "Sample": "corral.runtime",
    "ContainerConfig": "corral.runtime.container",
    "build_container_image": "corral.runtime.container",
    "container_engine": "corral.runtime.container",
}

__all__ = [*sorted(_EXPORTS), "__version__"]  # noqa: PLE0604


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
