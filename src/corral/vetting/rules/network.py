"""Network: raw sockets, HTTP and other clients, servers, hard-coded addresses."""

from __future__ import annotations

import ast
import ipaddress
import re
from urllib.parse import urlsplit

from corral.policy import Permission, PermissionSyntaxError
from corral.vetting.rules.base import Context, Rule

_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
_CLIENTS = frozenset(
    {
        "socket.socket",
        "_socket.socket",
        "ssl.create_connection",
        "socket.create_connection",
        "socket.fromfd",
        "urllib.request.urlopen",
        "urllib.request.urlretrieve",
        "urllib.request.build_opener",
        "urllib2.urlopen",
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
        "ftplib.FTP",
        "ftplib.FTP_TLS",
        "smtplib.SMTP",
        "smtplib.SMTP_SSL",
        "poplib.POP3",
        "imaplib.IMAP4",
        "imaplib.IMAP4_SSL",
        "telnetlib.Telnet",
        "xmlrpc.client.ServerProxy",
        "asyncio.open_connection",
        "requests.Session",
        "httpx.Client",
        "httpx.AsyncClient",
        "aiohttp.ClientSession",
        "aiohttp.request",
        "urllib3.PoolManager",
        "urllib3.request",
        "websocket.create_connection",
        "websockets.connect",
        "paramiko.SSHClient",
    }
    | {f"requests.{v}" for v in _HTTP_VERBS}
    | {f"httpx.{v}" for v in _HTTP_VERBS}
)
_SERVERS = frozenset(
    {
        "socket.create_server",
        "socketserver.TCPServer",
        "socketserver.UDPServer",
        "socketserver.ThreadingTCPServer",
        "socketserver.ForkingTCPServer",
        "http.server.HTTPServer",
        "http.server.ThreadingHTTPServer",
        "xmlrpc.server.SimpleXMLRPCServer",
        "asyncio.start_server",
        "wsgiref.simple_server.make_server",
    }
)
_URL = re.compile(r"(?i)\b(?:https?|ftps?|wss?|gopher|sftp|ssh)://[^\s'\"<>]+")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ftps": 990, "ssh": 22,
          "sftp": 22, "gopher": 70}


class NetworkClient(Rule):
    """Opening a connection: a raw socket or any of the common clients."""

    id = "CRL401"
    name = "network-client"
    family = "network"
    severity = "medium"
    summary = "opens a network connection (raw socket or HTTP client)"
    needs = "network:connect"
    calls = _CLIENTS

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        what = "a raw socket" if qual and qual.startswith("socket.") else "a network client"
        ctx.report(self, node, f"calls {qual}(): opens {what}")


class NetworkListen(Rule):
    """Accepting connections: a server socket."""

    id = "CRL402"
    name = "network-listen"
    family = "network"
    severity = "medium"
    summary = "listens for network connections"
    needs = "network:listen"
    calls = _SERVERS

    def on_call(self, ctx: Context, node: ast.Call, qual: str | None) -> None:
        ctx.report(self, node, f"calls {qual}(): listens for connections")


class HardcodedAddress(Rule):
    """An IP address or URL written into the code: where would it send data?"""

    id = "CRL403"
    name = "hardcoded-address"
    family = "network"
    severity = "low"
    confidence = "medium"
    summary = "contains a hard-coded IP address or URL"
    needs = "network:connect"
    constants = True

    def on_constant(self, ctx: Context, node: ast.Constant, value: str) -> None:
        if len(value) > 2048:
            return
        text = value.strip()
        if _IPV4.fullmatch(text) or (":" in text and _is_ipv6(text)):
            ctx.report(self, node, f"hard-coded IP address {text!r}")
            return
        match = _URL.search(value)
        if match:
            url = match.group(0)
            ctx.report(self, node, f"hard-coded URL {url[:80]!r}", needs=needs_for(url))


def needs_for(url: str) -> str:
    """``network:connect=host:port`` for a literal URL, or unscoped when it will not parse.

    Scoped, so the cross-check can say that a URL to some other host is not
    covered by the one host the manifest declares.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or _PORTS.get(parts.scheme.lower())
    except ValueError:
        return "network:connect"
    if not host or port is None or "{" in host:
        return "network:connect"
    spelled = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        return str(Permission("network", "connect", spelled))
    except PermissionSyntaxError:
        return "network:connect"


def _is_ipv6(text: str) -> bool:
    if len(text) > 45 or not all(c in "0123456789abcdefABCDEF:." for c in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
