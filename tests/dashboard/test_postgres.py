"""The dashboard over a PostgreSQL audit store that a Host in this process writes to.

The host and the dashboard share nothing but the database (and the home's
lifecycle tables), as on two machines.
"""

from __future__ import annotations

import json

import corral
from tests.conftest import PLUGINS
from tests.dashboard.conftest import csrf_of, login, test_client


def test_pages_read_a_postgresql_store(home, accounts, postgresql_backend):
    url = postgresql_backend.target
    with corral.Host(home=home, audit=url) as host:
        good = host.load(PLUGINS / "good")
        for n in range(5):
            good.call("echo", n)
    from corral.dashboard import create_app

    app = create_app(home, audit=url)
    app.state.dashboard.page_size = 3
    with test_client(app) as client:
        assert login(client).status_code == 303
        assert 'data-plugin="good-notes"' in client.get("/").text
        assert "echo" in client.get("/audit?plugin=good-notes&kind=call.completed").text
        exported = client.get("/audit/export.jsonl?plugin=good-notes").text.splitlines()
        assert [json.loads(line)["plugin"] for line in exported] == ["good-notes"] * len(exported)
        with corral.open_store(url) as store:
            assert len(exported) == len(store.query(plugin="good-notes")) > 5
        assert "intact" in client.get("/audit/verify").text
        page = client.get("/plugins/good-notes")
        client.post("/plugins/good-notes/suspend", data={"csrf": csrf_of(page.text)})
    with corral.open_store(url) as store:  # the action is in the store the dashboard reads
        change = store.query(plugin="good-notes", kind="plugin.state")[-1]
    assert (change.details["state"], change.details["admin"]) == ("suspended", "alice")
