"""The author's side: sign a package's files, and pack a directory as ``.corral``.

Signing reads the package through the same hygiene as verification, so an
author cannot sign what a host would refuse. The statement is built from the
bytes read, then signed as those exact bytes (no canonical form needed). The
envelope carries the signer's public key so a self-signed community package
can be checked and pinned; a host with that key in its keyring ignores the
copy and uses its own.

Archives are written deterministically (sorted names, fixed timestamps,
regular-file mode 0644), so packing the same files twice gives the same bytes.
"""

from __future__ import annotations

import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corral.errors import TrustError
from corral.limits import DEFAULT_LIMITS, Limits
from corral.manifest import parse_manifest
from corral.trust import dsse, keys, statement
from corral.trust.digests import sha256_hex
from corral.trust.package import SIGNATURE_FILE, manifest_member, open_package

_EPOCH = (1980, 1, 1, 0, 0, 0)


def make_envelope(
    members: dict[str, bytes],
    key: keys.PrivateKey,
    *,
    publisher: str,
    package: str = "package",
    not_before: datetime | None = None,
    expires: datetime | None = None,
    valid_for: timedelta = timedelta(days=365),
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """The envelope JSON for ``members`` signed by ``key``."""
    name, data = manifest_member(members, package)
    manifest = parse_manifest(data, f"{package}/{name}", limits=limits)
    start = not_before or datetime.now(UTC)
    payload = statement.build(
        {n: sha256_hex(b) for n, b in members.items()},
        name=manifest.name,
        version=manifest.version,
        publisher=publisher,
        not_before=start,
        expires=expires or start + valid_for,
    )
    public = key.public_key()
    signature = dsse.Signature(
        keys.keyid(public),
        keys.sign(key, dsse.pae(dsse.PAYLOAD_TYPE, payload)),
        keys.public_pem(public),
    )
    return dsse.Envelope(dsse.PAYLOAD_TYPE, payload, (signature,)).to_json()


def write_archive(members: dict[str, bytes], out: Path, envelope: bytes | None = None) -> Path:
    """Write ``members`` (and the envelope) as a deterministic ``.corral`` zip."""
    everything = dict(members)
    if envelope is not None:
        everything[SIGNATURE_FILE] = envelope
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(everything):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, everything[name])
    os.replace(tmp, out)
    return out


def sign_package(
    path: str | os.PathLike[str],
    key: keys.PrivateKey,
    *,
    publisher: str,
    valid_for: timedelta = timedelta(days=365),
    not_before: datetime | None = None,
) -> Path:
    """Sign a directory (writes ``corral.sig.json`` in it) or an archive (rewritten)."""
    package = open_package(path)
    envelope = make_envelope(
        package.members,
        key,
        publisher=publisher,
        package=str(path),
        valid_for=valid_for,
        not_before=not_before,
    )
    if package.kind == "archive":
        return write_archive(package.members, Path(path), envelope)
    target = Path(path) / SIGNATURE_FILE
    target.write_bytes(envelope)
    return target


def pack(
    plugin_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    key: keys.PrivateKey | None = None,
    publisher: str = "",
    valid_for: timedelta = timedelta(days=365),
) -> Path:
    """Pack a plugin directory as ``<name>-<version>.corral``; sign it when given a key."""
    source = Path(plugin_dir)
    package = open_package(source)
    if package.kind != "directory":
        raise TrustError(f"{source} is already an archive")
    name, data = manifest_member(package.members, str(source))
    manifest = parse_manifest(data, f"{source}/{name}")
    target = Path(out) if out is not None else Path(f"{manifest.name}-{manifest.version}.corral")
    envelope = None
    if key is not None:
        if not publisher:
            raise TrustError("signing needs a publisher name (--publisher)")
        envelope = make_envelope(
            package.members, key, publisher=publisher, package=str(source), valid_for=valid_for
        )
    return write_archive(package.members, target, envelope)
