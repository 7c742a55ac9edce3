"""Serving the dashboard with uvicorn, on loopback unless told otherwise.

The console can suspend and disable plugins, so by default it listens only
where the machine's own users can reach it; a wider bind is refused unless
the operator asks for it by name (``--bind-any``), which is also the moment
to put HTTPS in front of it.
"""

from __future__ import annotations

import ipaddress
import os

import uvicorn

from corral.dashboard.app import create_app
from corral.errors import HostError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, bind_any: bool) -> None:
    """Refuse a non-loopback address without the explicit flag."""
    if not is_loopback(host) and not bind_any:
        raise HostError(
            f"refusing to listen on {host}: the dashboard binds to loopback only; "
            "pass --bind-any to listen on a wider address (and put HTTPS in front of it)"
        )


def make_server(
    home: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    bind_any: bool = False,
    audit: str | None = None,
    secure_cookies: bool = False,
) -> uvicorn.Server:
    """A configured server; ``.run()`` blocks, ``.should_exit = True`` stops it."""
    check_bind(host, bind_any)
    app = create_app(home, audit=audit, secure_cookies=secure_cookies)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        server_header=False,
        proxy_headers=False,
    )
    return uvicorn.Server(config)
