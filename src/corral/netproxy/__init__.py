"""The host-side filtering proxy that is a restricted pen's only way out.

``NetProxy`` runs in the host; each restricted plugin gets a ``Door`` (its
grant, connection limit and counters) and each of its workers a dispenser
socket through which the pen asks for streams to the proxy. See
``corral.netproxy.server`` for the wire and ``resolve`` for the decision.
"""

from corral.netproxy.door import Door, NetUsage, Record
from corral.netproxy.resolve import Resolver, Verdict, decide, mapping_resolver, system_resolver
from corral.netproxy.server import EXHAUSTED, GRANTED, OPEN_REQUEST, NetProxy

__all__ = [
    "EXHAUSTED",
    "GRANTED",
    "OPEN_REQUEST",
    "Door",
    "NetProxy",
    "NetUsage",
    "Record",
    "Resolver",
    "Verdict",
    "decide",
    "mapping_resolver",
    "system_resolver",
]
