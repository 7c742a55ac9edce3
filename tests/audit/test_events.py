"""The event model: validated on construction, one canonical encoding the chain hashes."""

import uuid

import pytest

from corral.audit import KINDS, AuditEvent


def test_every_kind_other_features_emit_is_known():
    for kind in (
        "signature.verified",
        "signature.failed",
        "vetting.finding",
        "vuln.reported",
        "network.connect",
        "hook.called",
        "limit.warning",
        "violation",
        "response",
        "audit.pruned",
        "plugin.state",
    ):
        assert kind in KINDS


def test_an_unknown_kind_or_decision_is_refused():
    with pytest.raises(ValueError, match="unknown audit kind 'deny'"):
        AuditEvent(time=0, kind="deny", plugin="p")
    with pytest.raises(ValueError, match="unknown decision 'maybe'"):
        AuditEvent(time=0, kind="denied", plugin="p", decision="maybe")


def test_details_are_stored_as_plain_json_so_the_hash_survives_a_round_trip():
    e = AuditEvent(
        time=1,
        kind="grant",
        plugin="p",
        details={"path": __import__("pathlib").Path("/x"), "t": (1, 2)},
    )
    assert e.details == {"path": "/x", "t": [1, 2]}
    linked = e.chained(host_id="h", seq=1, prev_hash="0" * 64)
    again = AuditEvent.from_dict(linked.to_dict())
    assert again.compute_hash() == linked.hash


def test_the_hash_covers_every_field_but_itself():
    base = AuditEvent(time=1.5, kind="denied", plugin="p", decision="deny").chained(
        host_id="h", seq=1, prev_hash="0" * 64
    )
    from dataclasses import replace

    for field, value in [
        ("time", 1.25),
        ("plugin", "q"),
        ("decision", "allow"),
        ("seq", 2),
        ("host_id", "g"),
        ("details", {"x": 1}),
        ("prev_hash", "1" * 64),
        ("version", "2.0"),
        ("digest", "ab"),
        ("worker", "7"),
        ("id", "other"),
    ]:
        assert replace(base, **{field: value}).compute_hash() != base.hash, field


def test_oversized_details_are_truncated_not_refused():
    e = AuditEvent(time=0, kind="denied", plugin="p", details={"blob": "x" * 100_000})
    assert set(e.details) == {"truncated"} and len(e.details["truncated"]) == 1024


def test_event_ids_are_random_version_4_uuids():
    ids = [AuditEvent(time=1.0, kind="admin", plugin="").id for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, text)
