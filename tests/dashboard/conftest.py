"""A real home where a real Host ran plugins, the dashboard over it, and a real browser.

The server runs for real (uvicorn on a free loopback port, in a thread of
this process) over the same ``corral.db`` the Host writes. The browser is
Debian's chromium driven by Playwright; it is installed with apt-get when
absent, and under ``CI=true`` a missing browser fails the tests instead of
skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pytest

import corral
from corral.dashboard import Accounts, make_server
from tests.conftest import PLUGINS
from tests.runtime import conftest as runtime_fixtures

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery staple"
READER_PASSWORD = "reads but never writes"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


home = runtime_fixtures.home  # the Host's home, under /var/tmp and searchable by a pen's uid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@pytest.fixture
def accounts(home):
    """An admin ``alice`` and a read-only ``rita`` in the home's corral.db."""
    store = Accounts(Path(home) / "corral.db")
    store.add("alice", PASSWORD)
    store.add("rita", READER_PASSWORD, "read-only")
    return store


@pytest.fixture
def ran(home):
    """A Host (real pens, the home's own SQLite audit store) that has run plugins.

    It stays open for the test, so the dashboard can watch it work and its
    state changes reach a live host.
    """
    with corral.Host(home=home) as host:
        good = host.load(PLUGINS / "good")
        good.call("echo", "hi")
        good.call("cities")
        with pytest.raises(corral.PermissionDenied):
            good.call("secret")
        xss = host.load(PLUGINS / "fixtures" / "xss_plugin")
        with pytest.raises(corral.PluginFailed):
            xss.call("fail")
        with pytest.raises(corral.PermissionDenied):
            xss.call("peek")
        bad = host.load(PLUGINS / "fixtures" / "malicious_plugin")
        bad.call("env", "HOME")
        yield host


def login(client, name="alice", password=PASSWORD):
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    return response


@pytest.fixture
def app(home, ran, accounts):
    from corral.dashboard import create_app

    return create_app(home)


def test_client(app):
    """Starlette's TestClient (requests in process, no network) for ``app``."""
    with warnings.catch_warnings():  # it would rather have httpx2; httpx works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        return TestClient(app)


test_client.__test__ = False  # a helper, not a test


@pytest.fixture
def client(app):
    """A logged-in admin's client."""
    with test_client(app) as logged_in:
        assert login(logged_in).status_code == 303
        yield logged_in


@pytest.fixture
def server(home, ran, accounts):
    """The dashboard on a free loopback port, served by uvicorn in a thread."""
    port = free_port()
    srv = make_server(home, port=port)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def _ensure_chromium() -> str | None:
    """The Debian browser's path, installing it when absent; the reason when that fails."""
    if os.path.exists(CHROMIUM):
        return None
    if shutil.which("apt-get") is None:
        return "no chromium and no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}"
    return None if os.path.exists(CHROMIUM) else "apt-get installed no /usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright (never Playwright's own download), headless."""
    problem = _ensure_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        problem = problem or f"the playwright package is missing ({exc})"
    if problem:
        message = f"BROWSER TESTS NOT RUN: {problem}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        warnings.warn(message, stacklevel=2)
        pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="corral-chromium-")
    with sync_playwright() as play:
        context = play.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1500, "height": 950},
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser):
    """A fresh tab with no cookies: every test logs in itself."""
    browser.clear_cookies()
    tab = browser.new_page()
    yield tab
    tab.close()


def browser_login(page, base, name="alice", password=PASSWORD):
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
