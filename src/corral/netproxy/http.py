"""The HTTP proxy side: ``CONNECT host:port`` tunnels and plain absolute-URI requests.

This is what ``HTTP_PROXY``/``HTTPS_PROXY`` clients speak (urllib, requests,
httpx). A plain request is forwarded with its request line made origin-form,
its proxy headers dropped and ``Connection: close`` set, so one stream carries
one request to the one host that was checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
_TITLES = {
    400: "Bad Request",
    403: "Forbidden",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}
_HOP = frozenset({b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"})


class HttpError(Exception):
    """A request the proxy will not read; ``status`` is the reply."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HttpRequest:
    """``tunnel`` for CONNECT; otherwise ``head`` is what goes upstream."""

    host: str
    port: int
    tunnel: bool
    head: bytes = b""


async def read_request(reader: asyncio.StreamReader, first: bytes) -> HttpRequest:
    """Read the request head (``first`` is its first byte, already consumed)."""
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError("request head too large", 431) from None
    except asyncio.IncompleteReadError:
        raise HttpError("the request head ended early") from None
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        raise HttpError(f"not an HTTP request line: {line[:80]!r}")
    method, uri, version = (p.decode("latin-1") for p in parts)
    if method == "CONNECT":
        host, port = _authority(uri, None)
        return HttpRequest(host, port, tunnel=True)
    url = urlsplit(uri)
    if url.scheme != "http" or not url.netloc:
        raise HttpError(f"a proxy request needs an absolute http:// URI, not {uri[:80]!r}")
    host, port = _authority(url.netloc.rpartition("@")[2], 80)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    headers = [h for h in rest.split(b"\r\n") if h and _name(h) not in _HOP]
    upstream = [f"{method} {path} {version}".encode("latin-1"), *headers, b"Connection: close"]
    return HttpRequest(host, port, tunnel=False, head=b"\r\n".join(upstream) + b"\r\n\r\n")


def _name(header: bytes) -> bytes:
    return header.split(b":", 1)[0].strip().lower()


def _authority(text: str, default: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, ""
    if not port and default is not None:
        return host, default
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise HttpError(f"{text!r} is not host:port")
    return host, int(port)


def refusal(status: int, reason: str, permission: str = "") -> bytes:
    """A short reply that says why; the permission to add travels in a header too."""
    body = (reason + ("\nneeds " + permission if permission else "") + "\n").encode()
    title = _TITLES.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {title}", "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(body)}", "Connection: close"]  # fmt: skip
    if permission:
        lines.append(f"X-Corral-Permission: {permission}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
