"""Seed 000's decorators and SecurityContext, used as the seed shows, in host code and in a pen."""

from __future__ import annotations

import asyncio
import os

import pytest

import corral
from corral.audit import MemorySink
from corral.compat import (
    SecurityContext,
    audit_log,
    check_permission,
    rate_limit,
    require_permission,
    require_permissions,
    secure_http_request,
    security_monitor,
    set_audit_sink,
    validate_network_access,
)
from tests._net import Web


@pytest.fixture
def records():
    sink = MemorySink()
    set_audit_sink(sink)
    yield sink
    set_audit_sink(MemorySink())


class MyExtension:
    """The seed's extension shape: decorated async and sync methods."""

    @require_permission("data:write")
    @audit_log("user_data_update", sensitive=True)
    async def update_user_data(self, user_id: str, data: dict) -> str:
        return f"updated {user_id}"

    @require_permission("data:read")
    def read_user_data(self, user_id: str) -> dict:
        return {"user": user_id}

    @require_permissions("system:files", "data:read")
    def export(self) -> str:
        return "exported"

    @validate_network_access
    def fetch(self, url: str) -> str:
        return f"fetched {url}"


def test_outside_any_grant_a_decorated_function_is_refused(records):
    with pytest.raises(corral.PermissionDenied, match="no grant in force"):
        MyExtension().read_user_data("u1")
    [event] = records.query(kind="plugin.action")
    assert event.decision == "deny" and event.details["permission"] == "data:read"


def test_the_hierarchy_write_implies_read_and_the_reverse_is_refused(records):
    ext = MyExtension()
    with SecurityContext("my-extension", ["data:write"]):
        assert ext.read_user_data("u1") == {"user": "u1"}
        assert asyncio.run(ext.update_user_data("u1", {"name": "x"})) == "updated u1"
    with SecurityContext("my-extension", ["data:read"]):
        with pytest.raises(corral.PermissionDenied) as info:
            asyncio.run(ext.update_user_data("u1", {"name": "x"}))
    assert info.value.permission == "data:write"


def test_audit_log_keeps_sensitive_arguments_out_of_the_record(records):
    with SecurityContext("my-extension", ["data:write"]):
        asyncio.run(MyExtension().update_user_data("u1", {"password": "hunter2"}))
    [logged] = [e for e in records.events if e.details["action"] == "user_data_update"]
    assert logged.plugin == "my-extension"
    assert "hunter2" not in str(logged.details) and logged.details["arguments"] == "redacted"


def test_system_admin_includes_files_and_network_external_allows_any_host():
    ext = MyExtension()
    with SecurityContext("ops", ["system:admin", "data:read", "network:external"]):
        assert ext.export() == "exported"
        assert ext.fetch("https://api.example.com/data") == "fetched https://api.example.com/data"
    with SecurityContext("ops", ["system:files"]):  # data:read missing
        with pytest.raises(corral.PermissionDenied):
            ext.export()
        with pytest.raises(corral.PermissionDenied, match=r"network:connect=api\.example\.com:443"):
            ext.fetch("https://api.example.com/data")


def test_rate_limit_refuses_past_the_budget_naming_the_limit():
    @rate_limit(max_calls=3, period=60)
    def ping() -> str:
        return "pong"

    assert [ping() for _ in range(3)] == ["pong"] * 3
    with pytest.raises(corral.ResourceLimitExceeded) as info:
        ping()
    assert info.value.limit == "rate_limit"


def test_security_monitor_records_duration_and_a_refusal(records):
    @security_monitor
    @require_permission("data:write")
    def save() -> str:
        return "saved"

    with SecurityContext("svc", ["data:write"]):
        assert save() == "saved"
    with pytest.raises(corral.PermissionDenied):
        save()
    monitored = [e for e in records.events if e.details["action"] == "security_monitor"]
    assert [(e.decision, e.details["outcome"]) for e in monitored] == [
        ("info", "ok"),
        ("deny", "PermissionDenied"),
    ]
    assert all(e.details["duration_ms"] >= 0 for e in monitored)


def test_security_context_temp_files_are_cleaned_up_and_other_paths_need_a_grant(tmp_path):
    with SecurityContext("my-extension", ["data:write"]) as ctx:
        temp_file = ctx.create_temp_file(".json")
        ctx.write_file(temp_file, {"a": 1})
        assert ctx.read_file(temp_file) == '{"a": 1}'
        with pytest.raises(corral.PermissionDenied, match="file:write="):
            ctx.write_file(tmp_path / "elsewhere.txt", "x")
    assert not os.path.exists(temp_file)
    assert not (tmp_path / "elsewhere.txt").exists()
    with SecurityContext("my-extension", ["system:files"]) as ctx:
        ctx.write_file(tmp_path / "elsewhere.txt", "x")  # system:files means file:read+write
    assert (tmp_path / "elsewhere.txt").read_text() == "x"


def test_a_misspelt_permission_fails_at_decoration():
    with pytest.raises(ValueError, match="did you mean 'file'"):
        require_permission("fiel:read")


# --- inside the pen: the decorators consult the plugin's own grant ------------------

pen = pytest.mark.pen


@pytest.fixture
def extension(host, plugin_dir):
    return host.load(plugin_dir("fixtures/kari_decorated"))


@pen
def test_in_a_pen_the_decorators_follow_the_plugins_grant(extension, audit):
    assert extension.call("read_user_data", "u1") == {"user": "u1"}
    assert extension.call("both") == "both held"
    with pytest.raises(corral.PermissionDenied) as info:
        extension.call("update_user_data", "u1", {"password": "hunter2"})
    assert info.value.permission == "data:write"
    actions = audit.query(plugin="kari-decorated", kind="plugin.action")
    assert [(e.decision, e.source) for e in actions] == [("deny", "worker")]
    assert "hunter2" not in str(actions[0].details)


@pen
def test_in_a_pen_a_security_context_narrows_but_never_widens(extension):
    _path, text = extension.call("scratch", "hello")
    assert text == '{"text": "hello"}'
    with pytest.raises(corral.PermissionDenied):
        extension.call("context_cannot_widen")


@pen
def test_in_a_pen_monitor_rate_limit_and_network_validation(extension, audit):
    assert extension.call("report", "q3") == "report q3"
    assert [extension.call("limited") for _ in range(2)] == ["ran", "ran"]
    with pytest.raises(corral.PluginFailed, match="rate limit"):
        extension.call("limited")
    with pytest.raises(corral.PermissionDenied):
        extension.call("fetch", "https://api.example.com/data")
    actions = [e.details["action"] for e in audit.query(kind="plugin.action")]
    assert {"report_generated", "security_monitor", "rate_limit", "network.validate"} <= set(
        actions
    )


@pen
def test_forging_the_decorators_grant_opens_nothing_the_kernel_guards(extension, outside):
    """The decorators are a convenience: a plugin that forges their grant still hits the pen."""
    with pytest.raises(corral.PermissionDenied) as info:
        extension.call("forge_grant_then_read", str(outside / "secret.txt"))
    assert "TOPSECRET" not in str(info.value)


# --- check_permission and secure_http_request: real loopback servers ----------------


@pytest.fixture
def webs():
    granted, other = Web("127.0.0.1"), Web("127.0.0.1")
    yield granted, other
    granted.close()
    other.close()


def test_secure_http_request_reaches_a_granted_host_and_refuses_another(records, webs):
    granted, other = webs
    with SecurityContext("ops", [f"network:connect=127.0.0.1:{granted.port}"]):
        assert check_permission("network:external")  # a named host outside: level restricted
        response = asyncio.run(secure_http_request(f"http://127.0.0.1:{granted.port}/ok"))
        with pytest.raises(corral.PermissionDenied) as info:
            asyncio.run(secure_http_request(f"http://127.0.0.1:{other.port}/no"))
    assert (response.status, response.text) == (200, "hello /ok")
    assert info.value.permission == f"network:connect=127.0.0.1:{other.port}"
    assert other.connections == 0  # refused before any connection was made
    decisions = [(e.decision, e.details["target"]) for e in records.query(kind="plugin.action")]
    assert decisions == [
        ("allow", f"127.0.0.1:{granted.port}"),
        ("deny", f"127.0.0.1:{other.port}"),
    ]


def test_secure_http_request_outside_any_grant_is_refused(records, webs):
    granted, _ = webs
    with pytest.raises(corral.PermissionDenied, match="no grant in force"):
        asyncio.run(secure_http_request(f"http://127.0.0.1:{granted.port}/"))
    assert granted.connections == 0
    with SecurityContext("ops", ["data:read"]):
        assert not check_permission("network:external")


@pen
def test_in_a_pen_secure_http_request_goes_through_the_proxy(host, plugin_copy, webs, audit):
    granted, other = webs
    fetcher = host.load(plugin_copy("fixtures/kari_http", {"PORTA": str(granted.port)}))
    assert fetcher.call("external") is True  # network level restricted: some host outside
    assert fetcher.call("fetch", f"http://127.0.0.1:{granted.port}/in-pen") == [200, "hello /in-pen"]
    assert [r[0] for r in granted.requests] == ["GET /in-pen HTTP/1.1"]  # via the proxy
    with pytest.raises(corral.PermissionDenied) as info:
        fetcher.call("fetch", f"http://127.0.0.1:{other.port}/no")
    assert info.value.permission == f"network:connect=127.0.0.1:{other.port}"
    assert other.connections == 0
    [refused] = [e for e in audit.query(plugin="kari-http", kind="plugin.action")
                 if e.decision == "deny"]
    assert refused.source == "worker" and refused.details["action"] == "network.request"
