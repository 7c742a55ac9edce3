"""The host side: the Host facade, plugin handles, workers, the zygote client."""

from corral.runtime.admin import HomeAdmin
from corral.runtime.handle import PluginHandle
from corral.runtime.host import Host
from corral.runtime.monitor import Sample

__all__ = ["HomeAdmin", "Host", "PluginHandle", "Sample"]
