"""Signing keys: Ed25519 by default, RSA (>= 2048 bits, SHA-256) for seed 001.

A key id is the SHA-256 of the raw public key: the 32 raw bytes for Ed25519,
the DER SubjectPublicKeyInfo for RSA (RSA has no shorter canonical raw form).
An id names a key; it never vouches for one: every check verifies a signature
with the key itself.

RSA signatures are made with PSS (MGF1-SHA256, salt the digest length) and
verified as PSS or as PKCS#1 v1.5, which is what seed 001's
``SHA256withRSA`` produces; both are sound over SHA-256. Keys under 2048 bits
are refused wherever they appear: generating, signing, the keyring, an
envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from corral.errors import SignatureError
from corral.trust.digests import sha256_hex

MIN_RSA_BITS = 2048

PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def _check_size(key: PublicKey | PrivateKey) -> None:
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise SignatureError(
            f"RSA key of {key.key_size} bits refused: at least {MIN_RSA_BITS} bits are required"
        )


def keyid(key: PublicKey) -> str:
    """SHA-256 of the raw public key (Ed25519: 32 bytes; RSA: DER SubjectPublicKeyInfo)."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return sha256_hex(raw)


def public_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public(pem: str | bytes, where: str = "public key") -> PublicKey:
    """A public key from PEM; only Ed25519 and RSA >= 2048 are accepted."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise SignatureError(f"{where}: {type(key).__name__} keys are not accepted")
    _check_size(key)
    return key


def load_private(pem: bytes, where: str = "private key") -> PrivateKey:
    """A private key from unencrypted PEM; only Ed25519 and RSA >= 2048."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SignatureError(f"{where}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise SignatureError(f"{where}: {type(key).__name__} keys are not accepted")
    _check_size(key)
    return key


def generate(rsa_bits: int | None = None) -> PrivateKey:
    """A new Ed25519 key, or an RSA key of ``rsa_bits`` (at least 2048)."""
    if rsa_bits is None:
        return ed25519.Ed25519PrivateKey.generate()
    if rsa_bits < MIN_RSA_BITS:
        raise SignatureError(f"RSA keys need at least {MIN_RSA_BITS} bits, not {rsa_bits}")
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def sign(key: PrivateKey, data: bytes) -> bytes:
    _check_size(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, _pss(), hashes.SHA256())


def verifies(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies with ``key``."""
    _check_size(key)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        auto = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        for pad in (auto, padding.PKCS1v15()):
            try:
                key.verify(signature, data, pad, hashes.SHA256())
                return True
            except InvalidSignature:
                continue
        return False
    except InvalidSignature:
        return False


@dataclass(frozen=True)
class KeyPair:
    """A private key with its public half and id, for signing."""

    private: PrivateKey

    @property
    def public(self) -> PublicKey:
        return self.private.public_key()

    @property
    def keyid(self) -> str:
        return keyid(self.public)
