"""The dashboard in a real browser (Debian's chromium under Playwright), over a live Host.

Each test drives the page as an administrator would and judges the outcome
from outside the page too: the stored state, the Host's next call, the audit
log. Screenshots of each page go to docs/screenshots/ for the README.
"""

from __future__ import annotations

import re
import time

import pytest

import corral
from tests.dashboard.conftest import READER_PASSWORD, browser_login, screenshot

# The first test may install chromium with apt-get (the session fixture): minutes, not seconds.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def handle(host, name):
    """The live host's handle of a loaded plugin."""
    return next(h for h in host.plugins() if h.name == name)


def test_logging_in_shows_every_plugin(page, server):
    page.goto(f"{server}/")
    assert page.url == f"{server}/login"
    screenshot(page, "login")
    browser_login(page, server)
    for name in ("good-notes", "xss-plugin", "malicious-plugin"):
        assert page.locator(f'tr[data-plugin="{name}"]').count() == 1
    page.wait_for_selector(".chart .uplot")  # the vendored chart library drew the usage
    screenshot(page, "overview")


def test_a_hostile_plugins_violation_appears_live_without_a_reload(page, server, ran):
    browser_login(page, server)
    page.wait_for_function("document.getElementById('live-status').textContent === 'connected'")
    page.evaluate("window.__sameDocument = true")
    bad = handle(ran, "malicious-plugin")
    with pytest.raises(corral.PermissionDenied):
        bad.call("read_open", "/etc/shadow")
    item = page.locator('#live li[data-kind="violation"][data-plugin="malicious-plugin"]')
    item.first.wait_for(timeout=15_000)
    assert "/etc/shadow" in page.locator("#live").inner_text()
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    screenshot(page, "live")


def test_suspending_from_the_page_stops_the_hosts_next_call(page, server, ran, home):
    browser_login(page, server)
    page.goto(f"{server}/plugins/malicious-plugin")
    page.click("button.act-suspend")
    page.wait_for_url(re.compile(r".*/plugins/malicious-plugin\?msg=.*"))
    assert page.inner_text("#plugin-state") == "suspended"
    assert corral.HomeAdmin(home).state("malicious-plugin") == "suspended"
    screenshot(page, "plugin")
    bad = handle(ran, "malicious-plugin")
    deadline = time.monotonic() + 15
    while True:  # the host adopts a stored state at its monitor's next round
        try:
            bad.call("env", "HOME")
        except corral.PluginSuspended:
            break
        assert time.monotonic() < deadline, "the host never adopted the suspension"
        time.sleep(0.3)


def test_a_post_without_the_csrf_token_is_refused_in_the_browser(page, server, home):
    browser_login(page, server)
    page.goto(f"{server}/plugins/malicious-plugin")
    page.evaluate("document.querySelector('form[action$=\"/suspend\"] input[name=csrf]').remove()")
    with page.expect_response(re.compile(r".*/suspend$")) as answer:
        page.click("button.act-suspend")
    assert answer.value.status == 403
    assert "CSRF" in page.content()
    assert corral.HomeAdmin(home).state("malicious-plugin") == "active"


def test_the_read_only_role_is_refused_in_the_browser(page, server, home):
    browser_login(page, server, "rita", READER_PASSWORD)
    page.goto(f"{server}/plugins/malicious-plugin")
    assert page.locator("button.act-suspend").is_disabled()
    page.evaluate("document.querySelector('button.act-suspend').disabled = false")
    with page.expect_response(re.compile(r".*/suspend$")) as answer:
        page.click("button.act-suspend")
    assert answer.value.status == 403
    assert "read-only" in page.content()
    assert corral.HomeAdmin(home).state("malicious-plugin") == "active"


def test_markup_from_a_plugin_does_not_run(page, server):
    browser_login(page, server)
    for path in ("/plugins/xss-plugin", "/audit?plugin=xss-plugin", "/"):
        page.goto(f"{server}{path}")
        page.wait_for_load_state("load")
        assert page.evaluate("window.__pwned") is None, path
        assert page.title() != "pwned", path
        assert page.locator("img[src=x]").count() == 0, path
    page.goto(f"{server}/plugins/xss-plugin")
    shown = page.inner_text("#description")
    assert "<script>window.__pwned = 1" in shown  # shown as text, escaped
    assert "<img src=x onerror" in page.inner_text("#errors")


def test_audit_log_and_approvals_pages(page, server):
    browser_login(page, server)
    page.goto(f"{server}/audit")
    assert page.locator("#audit tbody tr").count() >= 10
    screenshot(page, "audit")
    page.goto(f"{server}/audit/verify")
    assert "intact" in page.inner_text("#chains")
    page.goto(f"{server}/approvals")
    screenshot(page, "approvals")
