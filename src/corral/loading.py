"""Import a plugin and find its callables (in the pen, or in-process for trusted code).

The entry module is imported under a private package name, and the plugin
directory is appended to the *end* of ``sys.path``: a plugin file called
``numbers.py`` then cannot shadow the stdlib, while a plugin's imports of its
own sibling modules still work.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.errors import PluginValidationError
from corral.plugin import EXPORT_ATTR, HOOK_ATTR, Plugin

PRIVATE_PACKAGE = "_corral_plugin"


@dataclass
class Loaded:
    """What the worker serves: callables by name, hook handlers by hook name."""

    callables: dict[str, Callable[..., Any]] = field(default_factory=dict)
    hooks: dict[str, str] = field(default_factory=dict)
    instance: Plugin | None = None


def load_entry(plugin: str, plugin_dir: str, entry: str) -> Loaded:
    """Import ``module:attribute`` from ``plugin_dir`` and collect its callables."""
    module_name, _, attr = entry.partition(":")
    if not module_name:
        raise PluginValidationError(plugin, f"entry {entry!r} is not 'module[:attribute]'")
    module = _import(plugin, plugin_dir, module_name)
    if attr in ("", "*"):
        return _from_module(module)
    target = getattr(module, attr, None)
    if target is None:
        raise PluginValidationError(plugin, f"entry module {module_name!r} has no {attr!r}")
    if inspect.isclass(target):
        return _from_class(plugin, target)
    if inspect.ismodule(target):
        return _from_module(target)
    raise PluginValidationError(
        plugin, f"entry {entry!r} must name a corral.Plugin subclass or a module"
    )


def _import(plugin: str, plugin_dir: str, module_name: str) -> types.ModuleType:
    name = f"{PRIVATE_PACKAGE}_{plugin.replace('-', '_')}"
    package = types.ModuleType(name)
    package.__path__ = [plugin_dir]
    sys.modules[name] = package
    if plugin_dir not in sys.path:
        sys.path.append(plugin_dir)
    try:
        return importlib.import_module(f"{name}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.endswith(module_name.split(".", maxsplit=1)[0]):
            raise PluginValidationError(
                plugin, f"entry module {module_name!r} not found in the plugin directory"
            ) from None
        raise


def _from_class(plugin: str, cls: type) -> Loaded:
    if not issubclass(cls, Plugin):
        raise PluginValidationError(plugin, f"entry class {cls.__name__} must derive corral.Plugin")
    instance = cls()
    loaded = Loaded(instance=instance)
    for name, member in inspect.getmembers(instance, callable):
        if name.startswith("_") or name in ("setup", "teardown"):
            continue
        loaded.callables[name] = member
        hook_name = getattr(member, HOOK_ATTR, None)
        if hook_name:
            loaded.hooks[str(hook_name)] = name
    return loaded


def _from_module(module: types.ModuleType) -> Loaded:
    loaded = Loaded()
    for name, member in vars(module).items():
        if callable(member) and getattr(member, EXPORT_ATTR, False):
            loaded.callables[name] = member
        hook_name = getattr(member, HOOK_ATTR, None)
        if callable(member) and hook_name:
            loaded.callables.setdefault(name, member)
            loaded.hooks[str(hook_name)] = name
    return loaded
