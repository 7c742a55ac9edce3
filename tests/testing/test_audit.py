"""assert_denied and audit_events: a refusal must be raised to the caller AND recorded."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

import corral
from corral.testing import assert_denied, audit_events, denied, temporary_host
from tests.testing._plugins import snoop

pytestmark = pytest.mark.pen


@pytest.fixture
def outside():
    """A directory outside the pen's view (not /tmp: each pen has a private /tmp)."""
    root = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="corral-kit-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def host_and_snoop(tmp_path):
    plugin, name = snoop(tmp_path)
    with temporary_host() as host:
        yield host, host.load(plugin), name


def test_a_real_denial_passes_and_is_returned(host_and_snoop, outside):
    host, plugin, name = host_and_snoop
    target = outside / "planted.txt"
    seen = assert_denied(
        host, plugin.call, "plant", str(target), permission=f"file:write={target}", plugin=name
    )
    assert not target.exists()  # the effect, judged from outside the pen
    assert isinstance(seen.error, corral.PermissionDenied)
    assert seen.event is not None and seen.event.plugin == name
    assert seen.event.decision == "deny"


def test_the_context_manager_form(host_and_snoop, outside):
    host, plugin, _ = host_and_snoop
    target = outside / "x"
    with denied(host, f"file:write={target}") as seen:
        plugin.call("plant", str(target))
    assert seen.event is not None and seen.event.details["permission"] == f"file:write={target}"


def test_an_allowed_call_fails_the_assertion(host_and_snoop):
    host, plugin, _ = host_and_snoop
    with pytest.raises(AssertionError, match="nothing was raised"):
        assert_denied(host, plugin.call, "echo", 1, permission="file:write=/anything")


def test_a_denial_of_another_permission_fails_the_assertion(host_and_snoop, outside):
    host, plugin, _ = host_and_snoop
    target = outside / "y"
    with pytest.raises(AssertionError, match=f"names 'file:write={target}', not 'net:connect"):
        assert_denied(host, plugin.call, "plant", str(target), permission="net:connect=x:1")


def refuse(permission: str) -> None:
    """An application's own check that raises but forgets to record the refusal."""
    raise corral.PermissionDenied("no", permission=permission)


def test_an_unrecorded_refusal_fails_the_assertion(host_and_snoop):
    host, _, _ = host_and_snoop
    with pytest.raises(AssertionError, match="raised but not recorded"):
        assert_denied(host, refuse, "file:read=/etc/shadow", permission="file:read=/etc/shadow")


def test_an_earlier_record_does_not_count_for_a_later_refusal(host_and_snoop, outside):
    host, plugin, _ = host_and_snoop
    target = outside / "z"
    permission = f"file:write={target}"
    assert_denied(host, plugin.call, "plant", str(target), permission=permission)
    with pytest.raises(AssertionError, match="raised but not recorded"):
        assert_denied(host, refuse, permission, permission=permission)


def test_a_record_of_another_plugin_does_not_count(host_and_snoop, outside):
    host, plugin, _ = host_and_snoop
    target = outside / "w"
    with pytest.raises(AssertionError, match="of plugin 'someone-else'"):
        assert_denied(
            host,
            plugin.call,
            "plant",
            str(target),
            permission=f"file:write={target}",
            plugin="someone-else",
        )


def test_audit_events_filters_on_details(host_and_snoop, outside):
    host, plugin, name = host_and_snoop
    for leaf in ("a", "b"):
        with pytest.raises(corral.PermissionDenied):
            plugin.call("plant", str(outside / leaf))
    wanted = f"file:write={outside / 'b'}"
    [event] = audit_events(host, kind="denied", plugin=name, permission=wanted)
    assert event.details["permission"] == wanted
    assert len(audit_events(host.audit, kind="denied", decision="deny")) == 2
