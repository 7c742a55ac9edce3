"""The verification pipeline: signature first, parse after, then every rule.

In order: the envelope (if any) is parsed as an envelope only; a signature
must verify with a key (the keyring's copy for a listed key); only then is
the statement parsed; its time window, the key's validity and revocation are
checked; every package member must be listed exactly once with a matching
SHA-256, and nothing listed may be missing; the manifest, parsed from the
verified bytes, must name the plugin and version the statement signs; then
the tier rules, key pins and rollback. Each refusal is a ``SignatureError``
(or a ``TrustError`` for archive hygiene) naming its reason.

Tier rules (seed 001, DESIGN.md "Tiers"): unsigned proves community; a key
not in the keyring is a self-signature, which proves community and is pinned
on first install, and is refused outright when the manifest asks for more
than community (a claim to elevated trust that nothing backs); a keyring key
proves its own tier. A manifest asking for more than its signature proves is
granted the lower tier with a recorded reason (``grant`` notes it), unless
the admin policy pins the plugin's tier: then it is refused. And whatever
tier is finally granted, that tier's ``signature`` requirement (policy.yaml
may raise it) must be met.

A signed package whose envelope was verified before and whose store entry
exists is not read or hashed again: the store holds exactly the bytes the
statement lists. The signature, key and window checks still run every time,
so a revocation takes effect on the next load.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corral.errors import SignatureError
from corral.limits import DEFAULT_LIMITS, Limits
from corral.manifest import parse_manifest
from corral.policy import AdminPolicy, Manifest
from corral.policy.tiers import lowest
from corral.trust import dsse, keys
from corral.trust.archive import check_compiled, check_names
from corral.trust.digests import package_digest, sha256_hex
from corral.trust.keyring import Keyring
from corral.trust.package import manifest_member, open_package, read_envelope
from corral.trust.state import TrustState
from corral.trust.statement import Statement, parse
from corral.trust.store import Store
from corral.trust.versions import older

SIGNATURE_TIERS = {
    "optional": "community",
    "trusted-signer": "professional",
    "verified-publisher": "enterprise",
}


@dataclass(frozen=True)
class Signer:
    keyid: str
    publisher: str
    tier: str
    listed: bool


@dataclass(frozen=True)
class Verified:
    """What verification proved about one package."""

    manifest: Manifest
    digest: str
    tier: str
    publisher: str
    keyid: str
    signed: bool
    listed: bool
    file_count: int
    files_hashed: int
    cached: bool
    envelope_sha256: str = ""
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def details(self) -> dict[str, Any]:
        """The audit record's details."""
        return {
            "version": self.manifest.version,
            "digest": self.digest,
            "tier": self.tier,
            "publisher": self.publisher,
            "keyid": self.keyid,
            "signed": self.signed,
            "files": self.file_count,
            "cached": self.cached,
        }


class Verifier:
    """Verifies packages against a keyring and, when given, a home's state and store."""

    def __init__(
        self,
        keyring: Keyring,
        *,
        state: TrustState | None = None,
        store: Store | None = None,
        clock: Callable[[], float] | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.keyring = keyring
        self.state = state
        self.store = store
        self._clock = clock
        self.limits = limits

    def _now(self) -> datetime:
        if self._clock is None:
            return datetime.now(UTC)
        return datetime.fromtimestamp(self._clock(), UTC)

    # --- the pipeline ---------------------------------------------------------

    def verify(self, path: str | os.PathLike[str], policy: AdminPolicy | None = None) -> Verified:
        """Verify the package at ``path``; a ``TrustError`` subclass says why not."""
        now = self._now()
        raw = read_envelope(path, self.limits)
        source = Path(path)
        verified = self._unsigned(source) if raw is None else self._signed(source, raw, now)
        self._rules(verified, policy)
        return verified

    def _unsigned(self, path: Path) -> Verified:
        package = open_package(path, self.limits)
        hashes = {n: sha256_hex(b) for n, b in package.members.items()}
        manifest = _manifest(package.members, str(path), self.limits)
        check_compiled(str(path), hashes, lowest(manifest.tier, "community"))
        return Verified(
            manifest=manifest,
            digest=package_digest(hashes.items()),
            tier="community",
            publisher="",
            keyid="",
            signed=False,
            listed=False,
            file_count=len(hashes),
            files_hashed=len(hashes),
            cached=False,
            files=package.members,
        )

    def _signed(self, path: Path, raw: bytes, now: datetime) -> Verified:
        envelope = dsse.parse_envelope(raw)
        signer = self._signer(envelope, now)
        statement = parse(envelope.payload)  # only now: the payload is signed
        _check_window(statement, now)
        listed = statement.files()
        check_names(str(path), listed)
        digest = package_digest(listed.items())
        envelope_sha = sha256_hex(raw)
        if self._cached(envelope_sha, digest):
            assert self.store is not None
            name = "plugin.yaml" if "plugin.yaml" in listed else "plugin.json"
            members = {name: self.store.read(digest, name)} if name in listed else {}
            files: dict[str, bytes] = {}
            hashed, cached = 0, True
        else:
            members = self._checked_members(path, listed)
            files, hashed, cached = members, len(members), False
        manifest = _manifest(members, str(path), self.limits)
        predicate = statement.predicate
        if (manifest.name, manifest.version) != (predicate.name, predicate.version):
            raise SignatureError(
                f"the signed statement is for {predicate.name} {predicate.version}, "
                f"the package is {manifest.name} {manifest.version}"
            )
        if not signer.listed and manifest.tier != "community":
            raise SignatureError(
                f"key {signer.keyid} is not in the keyring: an unlisted (self-signed) key proves "
                f"only community, and this plugin asks for the {manifest.tier} tier"
            )
        check_compiled(str(path), listed, lowest(manifest.tier, signer.tier))
        return Verified(
            manifest=manifest,
            digest=digest,
            tier=signer.tier,
            publisher=predicate.publisher if not signer.listed else signer.publisher,
            keyid=signer.keyid,
            signed=True,
            listed=signer.listed,
            file_count=len(listed),
            files_hashed=hashed,
            cached=cached,
            envelope_sha256=envelope_sha,
            files=files,
        )

    def _cached(self, envelope_sha: str, digest: str) -> bool:
        if self.state is None or self.store is None:
            return False
        return self.state.cached(envelope_sha) == digest and self.store.has(digest)

    def _checked_members(self, path: Path, listed: dict[str, str]) -> dict[str, bytes]:
        members = open_package(path, self.limits).members
        for name in sorted(members):
            if name not in listed:
                raise SignatureError(f"{name} is in the package but not in the signed statement")
        for name, digest in sorted(listed.items()):
            if name not in members:
                raise SignatureError(f"{name} is listed in the signed statement but missing")
            if sha256_hex(members[name]) != digest:
                raise SignatureError(
                    f"{name} does not match its signed SHA-256 (changed after signing)"
                )
        return members

    def _signer(self, envelope: dsse.Envelope, now: datetime) -> Signer:
        """The key that vouches for the envelope: a keyring key first, else a self-signature."""
        signed = envelope.signed_bytes()
        problems: list[str] = []
        for sig in envelope.signatures:
            entry = self.keyring.get(sig.keyid)
            if entry is None:
                continue
            if problem := entry.problem(now):
                problems.append(problem)
            elif keys.verifies(entry.key(), sig.sig, signed):
                return Signer(entry.keyid, entry.publisher, entry.tier, listed=True)
            else:
                problems.append(f"the signature does not verify with keyring key {entry.keyid}")
        if problems:
            raise SignatureError("; ".join(problems))
        for sig in envelope.signatures:
            if not sig.public_key_pem:
                continue
            key = keys.load_public(sig.public_key_pem, f"envelope key {sig.keyid[:16]}")
            if keys.keyid(key) != sig.keyid:
                raise SignatureError(f"the envelope's public key is not key {sig.keyid}")
            if not keys.verifies(key, sig.sig, signed):
                raise SignatureError(f"the signature does not verify with key {sig.keyid}")
            return Signer(sig.keyid, "", "community", listed=False)
        ids = ", ".join(s.keyid for s in envelope.signatures)
        raise SignatureError(f"signed by key {ids}, which is not in the keyring")

    def _rules(self, verified: Verified, policy: AdminPolicy | None) -> None:
        """Key pins, rollback, the admin's tier pin and the granted tier's signature rule."""
        manifest = verified.manifest
        if self.state is not None:
            pinned = self.state.pinned(manifest.name)
            if pinned and not verified.signed:
                raise SignatureError(
                    f"{manifest.name} was installed signed by key {pinned}; this package is "
                    "unsigned"
                )
            if pinned and not verified.listed and pinned != verified.keyid:
                raise SignatureError(
                    f"{manifest.name} was first installed signed by key {pinned} (pinned); this "
                    f"package is signed by key {verified.keyid}, which is not in the keyring"
                )
            installed = self.state.installed(manifest.name)
            if installed is not None and older(manifest.version, installed.version):
                raise SignatureError(
                    f"rollback: {manifest.name} {manifest.version} is older than the installed "
                    f"{installed.version}"
                )
        if policy is None:
            return
        pin = policy.rule(manifest.name).tier
        if pin and lowest(pin, verified.tier) != pin and lowest(manifest.tier, pin) == pin:
            raise SignatureError(
                f"the admin policy pins {manifest.name} at the {pin} tier; its signature proves "
                f"only {verified.tier}"
            )
        tier = lowest(manifest.tier, verified.tier, pin or "enterprise")
        needs = SIGNATURE_TIERS.get(policy.tier(tier).signature, "enterprise")
        if lowest(needs, verified.tier) != needs:
            raise SignatureError(
                f"the {tier} tier requires a {policy.tier(tier).signature} signature; this "
                f"package's signature proves only {verified.tier}"
            )

    def install(self, verified: Verified) -> Path:
        """Store the verified bytes and remember the install; the store directory."""
        if self.store is None:
            raise SignatureError("no store to install into")
        target = self.store.path(verified.digest)
        if not (verified.cached and self.store.has(verified.digest)):
            target = self.store.put(verified.digest, verified.files)
        if self.state is not None:
            clock = self._clock() if self._clock is not None else datetime.now(UTC).timestamp()
            self.state.record_install(
                verified.manifest.name,
                verified.manifest.version,
                verified.digest,
                verified.keyid,
                pin=verified.signed,
                envelope_sha256=verified.envelope_sha256,
                now=clock,
            )
        return target


def _manifest(members: dict[str, bytes], package: str, limits: Limits) -> Manifest:
    name, data = manifest_member(members, package)
    return parse_manifest(data, f"{package}/{name}", limits=limits)


def _check_window(statement: Statement, now: datetime) -> None:
    predicate = statement.predicate
    if now < predicate.not_before:
        raise SignatureError(f"the signature is not valid before {_when(predicate.not_before)}")
    if now > predicate.expires:
        raise SignatureError(f"the signature expired on {_when(predicate.expires)}")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
