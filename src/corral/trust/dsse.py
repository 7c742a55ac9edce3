"""DSSE envelopes: the signature covers PAE bytes, so nothing is canonicalised.

Pre-Authentication Encoding, exactly as the DSSE v1 protocol defines it:
``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` with lengths in ASCII
decimal. Signing the type along with the body stops a signature made for one
kind of payload being replayed as another. The envelope is JSON with the
payload in standard base64; corral adds one optional field to a signature,
``publicKey`` (PEM), so a self-signed community package carries the key it was
signed with. That field is never trusted on its own: its key id must equal
the signature's ``keyid``, and a key listed in the keyring is always taken
from the keyring, never from the envelope.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from corral.errors import SignatureError

PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, body: bytes) -> bytes:
    """The bytes a DSSE signature is made over."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


@dataclass(frozen=True)
class Signature:
    """One signature in an envelope: who claims to have signed, and the signature bytes."""

    keyid: str
    sig: bytes
    public_key_pem: str = ""


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope; ``payload`` is still unparsed, unverified bytes."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_json(self) -> bytes:
        sigs: list[dict[str, str]] = []
        for s in self.signatures:
            entry = {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
            if s.public_key_pem:
                entry["publicKey"] = s.public_key_pem
            sigs.append(entry)
        doc = {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": sigs,
        }
        return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def _b64(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise SignatureError(f"malformed envelope: {field} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(f"malformed envelope: {field} is not valid base64") from None


def parse_envelope(data: bytes) -> Envelope:
    """Parse envelope JSON; the payload inside stays opaque until a signature checks."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignatureError(f"malformed envelope: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise SignatureError("malformed envelope: not a JSON object")
    payload_type = doc.get("payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise SignatureError(
            f"malformed envelope: payloadType {payload_type!r}, expected {PAYLOAD_TYPE!r}"
        )
    payload = _b64(doc.get("payload"), "payload")
    raw_sigs = doc.get("signatures")
    if not isinstance(raw_sigs, list) or not raw_sigs:
        raise SignatureError("malformed envelope: no signatures")
    sigs: list[Signature] = []
    for index, raw in enumerate(raw_sigs):
        if not isinstance(raw, dict) or not isinstance(raw.get("keyid"), str):
            raise SignatureError(f"malformed envelope: signatures[{index}] needs a keyid")
        pem = raw.get("publicKey", "")
        if not isinstance(pem, str):
            raise SignatureError(f"malformed envelope: signatures[{index}].publicKey")
        sigs.append(Signature(raw["keyid"], _b64(raw.get("sig"), f"signatures[{index}].sig"), pem))
    return Envelope(payload_type, payload, tuple(sigs))
