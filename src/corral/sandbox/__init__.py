"""corral.sandbox: the kernel layers of the pen, one module each, and the order they go on in.

``confine`` is what a worker calls; ``require`` (and ``probe.probe()``, the
module of that name) is what the host and ``corral doctor`` ask first;
``CgroupSet`` is the host's handle on a worker's cgroups.
"""

from corral.sandbox import probe
from corral.sandbox.apply import confine
from corral.sandbox.cgroups import CgroupSet, CgroupUsage
from corral.sandbox.probe import LayerStatus, require

__all__ = ["CgroupSet", "CgroupUsage", "LayerStatus", "confine", "probe", "require"]
