"""The host side: the Host facade, plugin handles, workers, the zygote client."""

from corral.runtime.handle import PluginHandle
from corral.runtime.hooks import HookResult
from corral.runtime.host import Host

__all__ = ["HookResult", "Host", "PluginHandle"]
