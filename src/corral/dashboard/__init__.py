"""``corral serve``: the administrators' web console over a home's shared state.

It reads only what hosts share (``HomeAdmin``'s lifecycle tables and the
audit store, SQLite or PostgreSQL), so it works beside a host in another
process or on another machine, and changes state only through ``HomeAdmin``.
"""

from corral.dashboard.accounts import Accounts, Admin
from corral.dashboard.app import create_app
from corral.dashboard.server import DEFAULT_HOST, DEFAULT_PORT, check_bind, make_server

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Accounts",
    "Admin",
    "check_bind",
    "create_app",
    "make_server",
]
