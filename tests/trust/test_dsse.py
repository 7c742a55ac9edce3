"""DSSE: the PAE bytes exactly as the spec defines them, and envelopes that refuse junk."""

from __future__ import annotations

import pytest

from corral.errors import SignatureError
from corral.trust.dsse import PAYLOAD_TYPE, Envelope, Signature, pae, parse_envelope


def test_pae_matches_the_dsse_spec_example():
    expected = b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("http://example.com/HelloWorld", b"hello world") == expected


def test_pae_counts_bytes_not_characters():
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_envelope_round_trip():
    env = Envelope(PAYLOAD_TYPE, b'{"a": 1}', (Signature("ab" * 32, b"\x01\x02", "PEM"),))
    assert parse_envelope(env.to_json()) == env


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"payloadType": "text/plain", "payload": "", "signatures": []}', "payloadType"),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "!!", "signatures": []}',
            "payload is not valid base64",
        ),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}',
            "no signatures",
        ),
    ],
)
def test_malformed_envelopes_are_signature_errors(data, reason):
    with pytest.raises(SignatureError, match=reason):
        parse_envelope(data)
