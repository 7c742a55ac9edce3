"""Sessions, CSRF tokens, login throttling and the response headers of the console.

Sessions are HMAC-signed cookies (a key made fresh at each server start,
so a restart logs everyone out and nothing secret is stored on disk). The
cookie carries the admin's name, a CSRF token and an expiry; it is
``HttpOnly`` (scripts cannot read it) and ``SameSite=Strict`` (other sites'
pages cannot send it). Every POST must also carry the token in its form,
which another origin cannot read: the double check stops a forged request
even from a browser that ignores SameSite.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

COOKIE = "corral_session"
SESSION_SECONDS = 8 * 3600
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Session:
    """What a valid cookie says: who (empty before login), the CSRF token, until when."""

    name: str
    csrf: str
    expires: float


class Signer:
    """Makes and checks session cookies with one HMAC-SHA256 key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def new(self, name: str = "", now: float | None = None) -> tuple[Session, str]:
        """A fresh session (a new CSRF token every time: a login rotates it) and its cookie."""
        session = Session(name, secrets.token_urlsafe(24), (now or time.time()) + SESSION_SECONDS)
        payload = json.dumps({"n": name, "c": session.csrf, "e": session.expires}).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return session, f"{body}.{self._mac(body)}"

    def load(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None if it is forged, malformed or expired."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(str(data["n"]), str(data["c"]), float(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_ok(session: Session | None, token: object) -> bool:
    """The form's token matches the session's (constant time); no session, no match."""
    if session is None or not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), token.encode())


class LoginThrottle:
    """At most ``attempts`` failed logins per client address and per name in ``window`` s.

    Counting per name too means spreading guesses over many addresses does
    not buy more guesses at one account.
    """

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def retry_after(self, client: str, name: str, now: float | None = None) -> float:
        """Seconds until another attempt is allowed (0 when it is allowed now)."""
        now = time.time() if now is None else now
        wait = 0.0
        with self._lock:
            for key in (f"ip:{client}", f"name:{name}"):
                times = self._recent(key, now)
                if len(times) >= self.attempts:
                    wait = max(wait, times[0] + self.window - now)
        return wait

    def failed(self, client: str, name: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            for key in (f"ip:{client}", f"name:{name}"):
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # bounded memory under a spray of names
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, client: str, name: str) -> None:
        with self._lock:
            self._failures.pop(f"name:{name}", None)
