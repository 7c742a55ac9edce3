"""The dashboard's HTTP surface over a real home, through Starlette's TestClient.

Every refusal is judged by its effect: after a refused POST the stored state
and the audit log are read back and found unchanged.
"""

from __future__ import annotations

import json
import re
import time

import pytest

import corral
from corral.dashboard.security import LoginThrottle
from tests.dashboard.conftest import READER_PASSWORD, csrf_of, login, test_client


def state_events(home):
    return corral.HomeAdmin(home).events("malicious-plugin")


def test_every_page_needs_a_login(app):
    with test_client(app) as anonymous:
        for path in ("/", "/plugins/good-notes", "/audit", "/approvals", "/audit/export.jsonl"):
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"] == "/login"
        assert anonymous.get("/events/stream").status_code == 401


def test_a_wrong_password_is_refused_and_a_right_one_gets_a_strict_cookie(app):
    with test_client(app) as c:
        assert login(c, password="not the password").status_code == 401
        response = login(c)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie


def test_login_attempts_are_rate_limited(home, ran, accounts):
    from corral.dashboard import create_app

    with test_client(create_app(home, throttle=LoginThrottle(attempts=3, window=60))) as c:
        for _ in range(3):
            assert login(c, password="guess").status_code == 401
        limited = login(c)  # even the right password waits now
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
        assert "too many failed logins" in limited.text


def test_pages_carry_a_strict_csp_and_no_inline_script(client):
    for path in ("/", "/plugins/good-notes", "/audit", "/approvals", "/static/app.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        if path != "/static/app.js":
            assert "<script>" not in response.text  # every script is a file: src=...


def test_overview_shows_each_plugin_with_its_state_and_last_violation(client):
    page = client.get("/").text
    for name in ("good-notes", "xss-plugin", "malicious-plugin"):
        assert f'data-plugin="{name}"' in page
    assert "community" in page


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client, home):
    before = corral.HomeAdmin(home).state("malicious-plugin")
    events = len(state_events(home))
    for data in ({}, {"csrf": "forged"}):
        response = client.post("/plugins/malicious-plugin/suspend", data=data)
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert corral.HomeAdmin(home).state("malicious-plugin") == before == "active"
    assert len(state_events(home)) == events


def test_the_read_only_role_sees_everything_and_changes_nothing(app, home):
    with test_client(app) as c:
        assert login(c, "rita", READER_PASSWORD).status_code == 303
        page = c.get("/plugins/malicious-plugin")
        assert page.status_code == 200
        response = c.post("/plugins/malicious-plugin/suspend", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 403
        assert "read-only" in response.text
    assert corral.HomeAdmin(home).state("malicious-plugin") == "active"


def test_suspend_is_stored_and_audited_with_the_admins_name(client, home):
    page = client.get("/plugins/malicious-plugin")
    response = client.post(
        "/plugins/malicious-plugin/suspend",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert corral.HomeAdmin(home).state("malicious-plugin") == "suspended"
    change = [e for e in state_events(home) if e.kind == "plugin.state"][-1]
    assert change.details["state"] == "suspended"
    assert change.details["admin"] == "alice"
    assert change.details["by"] == "dashboard"


def test_plugin_text_is_escaped_on_every_page(client):
    for path in ("/plugins/xss-plugin", "/audit?plugin=xss-plugin", "/"):
        html = client.get(path).text
        assert "<img src=x" not in html
        assert "<script>window" not in html
    assert "&lt;script&gt;window.__pwned = 1" in client.get("/plugins/xss-plugin").text


def test_audit_pages_follow_a_keyset_cursor_to_the_oldest_event(app, client, home):
    app.state.dashboard.page_size = 4
    rows, pages, url = 0, 0, "/audit?plugin=good-notes"
    while url:
        html = client.get(url).text
        rows += html.count('<tr class="decision-')
        pages += 1
        older = re.search(r'href="([^"]+)" id="older"', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
    export = client.get("/audit/export.jsonl?plugin=good-notes")
    records = [json.loads(line) for line in export.text.splitlines()]
    assert rows == len(records) == len(corral.HomeAdmin(home).events("good-notes"))
    assert pages == -(-rows // 4) >= 3
    assert [r["time"] for r in records] == sorted((r["time"] for r in records), reverse=True)


def test_the_audit_page_filters_by_decision_and_kind(client):
    html = client.get("/audit?decision=deny&kind=denied").text
    assert html.count('<tr class="decision-deny">') >= 2
    assert '<tr class="decision-allow">' not in html


def test_chain_verification_names_the_first_bad_record(client, home):
    assert "intact" in client.get("/audit/verify").text
    import sqlite3

    db = sqlite3.connect(home / "corral.db")
    with db:
        db.execute(
            "UPDATE audit_events SET details = '{\"edited\": true}' WHERE seq = "
            "(SELECT MIN(seq) + 2 FROM audit_events)"
        )
    db.close()
    html = client.get("/audit/verify").text
    assert "BROKEN" in html
    assert "edited" in html


@pytest.fixture
def upgrade(home, ran):
    """good-notes 2.0.0 asks for a permission 1.0.0 was never given (as a host records it)."""
    store = corral.HomeAdmin(home).store
    approved = store.approval("good-notes").permissions
    store.ask("good-notes", "2.0.0", approved | {"env:read=LANG"}, now=time.time())
    return "env:read=LANG"


def test_the_approvals_page_lists_new_permissions_and_approve_records_who(client, home, upgrade):
    page = client.get("/approvals")
    assert upgrade in page.text
    response = client.post(
        "/plugins/good-notes/approve",
        data={"csrf": csrf_of(page.text), "back": "/approvals"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    admin = corral.HomeAdmin(home)
    assert admin.store.pending("good-notes") is None
    assert upgrade in admin.store.approval("good-notes").permissions
    approved = [e for e in admin.events("good-notes") if e.details.get("state") == "approved"]
    assert approved[-1].details["admin"] == "alice"


def test_refuse_is_recorded_with_the_admins_name(client, home, upgrade):
    page = client.get("/approvals")
    client.post("/plugins/good-notes/refuse", data={"csrf": csrf_of(page.text)})
    admin = corral.HomeAdmin(home)
    refused = [e for e in admin.events("good-notes") if e.details.get("state") == "refused"]
    assert refused[-1].decision == "deny"
    assert refused[-1].details["admin"] == "alice"
    assert upgrade not in admin.store.approval("good-notes").permissions


def test_an_action_cannot_redirect_off_the_site(client):
    page = client.get("/plugins/good-notes")
    for back in ("https://evil.example/", "//evil.example/", "/\\evil.example/"):
        response = client.post(
            "/plugins/good-notes/suspend",
            data={"csrf": csrf_of(page.text), "back": back},
            follow_redirects=False,
        )
        assert response.headers["location"].startswith("/?msg=")
        client.post("/plugins/good-notes/resume", data={"csrf": csrf_of(page.text)})
