"""Keys: ids are hashes of the raw public key; RSA under 2048 bits never gets through."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from corral.errors import SignatureError
from corral.trust import keys


def test_ed25519_keyid_is_sha256_of_the_raw_32_bytes(ed_key):
    raw = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert len(raw) == 32
    assert keys.keyid(ed_key.public_key()) == hashlib.sha256(raw).hexdigest()


def test_rsa_keyid_is_sha256_of_the_der_spki(rsa_key):
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert keys.keyid(rsa_key.public_key()) == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("fixture", ["ed_key", "rsa_key"])
def test_sign_and_verify_round_trip(request, fixture):
    key = request.getfixturevalue(fixture)
    sig = keys.sign(key, b"exact bytes")
    assert keys.verifies(key.public_key(), sig, b"exact bytes")
    assert not keys.verifies(key.public_key(), sig, b"exact bytes!")


def test_pem_round_trip_and_junk(ed_key):
    pem = keys.private_pem(ed_key)
    assert keys.keyid(keys.load_private(pem).public_key()) == keys.keyid(ed_key.public_key())
    with pytest.raises(SignatureError, match=r"not a PEM public key"):
        keys.load_public("junk")
