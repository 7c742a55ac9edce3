"""The work-order example: host functions and a hook across real pens, as `make demo` runs them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import corral

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

from workorders.app import WorkOrderApp  # noqa: E402

pytestmark = pytest.mark.pen


@pytest.fixture
def app(host):
    app = WorkOrderApp(host)
    app.orders.add("replace pump seal")
    app.orders.add("calibrate gauge")
    return app


def test_the_reader_summarises_through_the_host(app, host):
    summary = host.load(EXAMPLES / "plugins" / "work-order-summary")
    assert summary.call("summarise") == {"total": 2, "by_status": {"open": 2}}


def test_the_writer_without_the_grant_is_refused_and_nothing_changes(app, host, audit):
    rogue = host.load(EXAMPLES / "plugins" / "work-order-rogue")
    with pytest.raises(corral.PermissionDenied) as info:
        rogue.call("close_everything")
    assert info.value.permission == "work_orders:write"
    assert "add it to permissions in plugin.yaml" in str(info.value)
    assert [o["status"] for o in app.orders.list()] == ["open", "open"]  # judged from the host
    [refusal] = [e for e in audit.query(kind="hostcall") if e.decision == "deny"]
    assert refusal.details["function"] == "work_orders.update"


def test_creating_an_order_runs_the_hook_in_each_plugins_pen(app, host):
    host.load(EXAMPLES / "plugins" / "work-order-summary")
    host.load(EXAMPLES / "plugins" / "work-order-rogue")
    order, results = app.create_order("inspect weld")
    by_plugin = {r.plugin: r for r in results}
    assert by_plugin["work-order-summary"].value == "order 3 ('inspect weld') noted; 3 open"
    refused = by_plugin["work-order-rogue"]
    assert not refused.ok and isinstance(refused.error, corral.PermissionDenied)
    assert app.orders.list(status="open")[-1] == {**order, "status": "open"}
