"""Session cookies, CSRF tokens and the login throttle, attacked directly."""

from __future__ import annotations

import base64
import json

from corral.dashboard.security import LoginThrottle, Signer, csrf_ok


def test_a_cookie_round_trips_and_expires():
    signer = Signer()
    session, cookie = signer.new("alice", now=1000.0)
    assert signer.load(cookie, now=1001.0) == session
    assert signer.load(cookie, now=session.expires + 1) is None


def test_a_forged_or_edited_cookie_is_refused():
    signer = Signer()
    _, cookie = signer.new("rita")
    body, mac = cookie.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["n"] = "alice"  # promote myself
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    assert signer.load(f"{forged}.{mac}") is None
    assert Signer().load(cookie) is None  # another server start's key
    for junk in ("", "no-dot", ".", "a.b.c", None):
        assert signer.load(junk) is None


def test_each_session_has_its_own_csrf_token():
    signer = Signer()
    first, _ = signer.new("alice")
    second, _ = signer.new("alice")
    assert first.csrf != second.csrf
    assert csrf_ok(first, first.csrf)
    assert not csrf_ok(first, second.csrf)
    assert not csrf_ok(first, "")
    assert not csrf_ok(None, first.csrf)
    assert not csrf_ok(first, None)


def test_the_throttle_counts_per_address_and_per_name():
    throttle = LoginThrottle(attempts=2, window=60)
    throttle.failed("10.0.0.1", "alice", now=0)
    throttle.failed("10.0.0.2", "alice", now=1)  # another address, same name
    assert throttle.retry_after("10.0.0.3", "alice", now=2) > 0
    assert throttle.retry_after("10.0.0.3", "bob", now=2) == 0
    assert throttle.retry_after("10.0.0.3", "alice", now=61) == 0  # the window passed
