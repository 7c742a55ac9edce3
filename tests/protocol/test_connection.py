"""The protocol, both ends wired back to back in memory: no processes, no sockets."""

import struct

import pytest

from corral.errors import ProtocolError
from corral.protocol import (
    Call,
    Connection,
    ErrorInfo,
    HostCall,
    Result,
    decode_body,
    encode_frame,
    from_wire,
    pair,
)


def test_call_and_result_round_trip():
    host, worker = pair()
    data = host.send(Call(id=host.next_id(), name="summary", kwargs={"city": "Oslo"}))
    [call] = list(worker.receive_data(data))
    assert call == Call(id=1, name="summary", args=[], kwargs={"city": "Oslo"})
    [result] = list(host.receive_data(worker.send(Result(id=call.id, ok=True, value="sunny"))))
    assert result.value == "sunny"
    assert host.awaiting == set()


def test_both_ends_may_start_a_message_at_any_time():
    host, worker = pair()
    call_bytes = host.send(Call(id=host.next_id(), name="work"))
    list(worker.receive_data(call_bytes))
    # While the call runs, the plugin calls a host function with its own id space.
    [hostcall] = list(host.receive_data(worker.send(HostCall(id=worker.next_id(), name="orders"))))
    assert isinstance(hostcall, HostCall)
    reply = host.send(Result(id=hostcall.id, ok=True, value=[1, 2]))
    [answer] = list(worker.receive_data(reply))
    assert answer.value == [1, 2]
    assert host.awaiting == {1}


def test_errors_travel_with_their_permission():
    host, worker = pair()
    list(worker.receive_data(host.send(Call(id=host.next_id(), name="x"))))
    err = ErrorInfo(type="PermissionDenied", message="no", permission="file:read=/etc/hosts")
    [result] = list(host.receive_data(worker.send(Result(id=1, ok=False, error=err))))
    assert result.error == err


def test_bytes_split_anywhere_still_decode():
    host, worker = pair()
    data = host.send(Call(id=host.next_id(), name="summary", args=list(range(100))))
    got = []
    for i in range(len(data)):
        got.extend(worker.receive_data(data[i : i + 1]))
    assert [m.name for m in got] == ["summary"]


def test_deny_oversized_frame_before_buffering_it():
    worker = Connection(max_frame_bytes=1024)
    with pytest.raises(ProtocolError, match="announced"):
        list(worker.receive_data(struct.pack(">I", 2**31)))


def test_deny_result_nobody_awaits():
    host, worker = pair()
    with pytest.raises(ProtocolError, match="nothing awaits"):
        list(host.receive_data(worker.send(Result(id=99, ok=True))))


@pytest.mark.parametrize(
    "body",
    [b"\xc1", b"\x93\x01\x02\x03", b"\x81\xa4kind\xa5bogus", b"\x81\xa4kind\xa4call"],
)
def test_deny_malformed_frames(body):
    worker = Connection()
    with pytest.raises(ProtocolError):
        list(worker.receive_data(struct.pack(">I", len(body)) + body))


def test_unserialisable_values_are_a_clear_type_error():
    with pytest.raises(TypeError, match="msgpack"):
        encode_frame({"kind": "call", "id": 1, "args": [object()]})


def test_empty_read_marks_the_peer_closed():
    conn = Connection()
    assert list(conn.receive_data(b"")) == []
    assert conn.closed


def test_deny_a_frame_that_builds_more_containers_than_its_budget():
    # one byte per empty list on the wire, 64 in the host: counted while they are built
    body = b"\x82\xa4kind\xa4call\xa4args\x93\x90\x90\x90"
    with pytest.raises(ProtocolError, match="lists and maps"):
        decode_body(body, max_containers=4)  # the outer map, args, three lists: five
    assert decode_body(body, max_containers=5)["args"] == [[], [], []]
    with pytest.raises(ProtocolError, match="max_array_len"):  # refused before allocating
        decode_body(b"\x81\xa4kind\xdd\xff\xff\xff\xff", max_containers=100)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "event", "id": 0, "type": "denied", "decision": "deny", "details": [1]},
        {"kind": "event", "id": 0, "type": ["denied"], "decision": "deny"},
        {"kind": "hostcall", "id": 1, "name": ["x"]},
        {"kind": "hostcall", "id": 1, "name": "x", "kwargs": {"a": 1, "b": [2]}, "args": "no"},
        {"kind": "ready", "id": 0, "callables": [1]},
        {"kind": "ready", "id": 0, "hooks": {"point": 3}},
        {"kind": "result", "id": True, "ok": True},
        {"kind": "result", "id": 1, "ok": "yes"},
        {"kind": "result", "id": 1, "ok": False, "error": "not a map"},
    ],
)
def test_deny_fields_of_the_wrong_shape(fields):
    with pytest.raises(ProtocolError, match=r"bad \w+ message"):
        from_wire(fields)
