"""``corral keygen | pack | sign | verify`` and ``corral keyring``: the signing workflow.

The author makes a key once (``keygen``), then signs a plugin directory
(``sign``) or packs it as a signed ``.corral`` archive (``pack --key``). The
administrator puts the public keys they trust in the keyring, each for the tier
it may vouch for (``keyring add``, ``keyring revoke``), and checks a package
before installing it (``verify``), with the same pipeline ``Host.load`` runs.
A refusal is one line naming the reason, and exit status 1.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.markup import escape

import corral
from corral.cli._output import HomeOpt, JsonOpt, console, emit_json, errors
from corral.runtime.home import Home
from corral.trust import KeyEntry, Keyring, Store, TrustState, Verifier, keys, pack, sign_package

keyring_app = typer.Typer(no_args_is_help=True, help="Manage the trusted keys (keyring.toml).")

KeyOpt = Annotated[Path, typer.Option("--key", help="Private key PEM (from corral keygen).")]
PublisherOpt = Annotated[str, typer.Option("--publisher", help="Publisher name to sign as.")]
ExpiresOpt = Annotated[
    str, typer.Option("--expires", help="How long the signature is valid: 365d, 12w, 48h.")
]
KeyringOpt = Annotated[
    Path | None, typer.Option("--keyring", help="Keyring file (default: HOME/keyring.toml).")
]
_DURATION = re.compile(r"(\d+)([dhw])")


def _refuse(message: str) -> NoReturn:
    errors.print(f"[red]refused[/red]: {escape(message)}")
    raise typer.Exit(1)


def _duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        _refuse(f"--expires {text!r}: expected a positive number with d, w or h, like 365d")
    unit = {"d": "days", "w": "weeks", "h": "hours"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def _until(text: str, now: datetime) -> datetime:
    """``--expires`` of a key: an ISO date or date-time (UTC unless it says), or a span."""
    if _DURATION.fullmatch(text.strip()):
        return now + _duration(text)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        _refuse(f"--expires {text!r}: expected a date like 2027-06-30 or a span like 365d")
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _private(path: Path) -> keys.PrivateKey:
    try:
        return keys.load_private(path.read_bytes(), str(path))
    except OSError as exc:
        _refuse(f"{path}: {exc.strerror}")
    except corral.CorralError as exc:
        _refuse(str(exc))


def _keyring_path(keyring: Path | None, home: Path | None) -> Path:
    return keyring if keyring is not None else Home.at(home).keyring


def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key files.")],
    rsa: Annotated[
        int | None, typer.Option("--rsa", help="Make an RSA key of this many bits (>= 2048).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="File name stem.")] = "corral",
) -> None:
    """Make a signing key: NAME.key (private, mode 0600) and NAME.pub; print its key id."""
    try:
        key = keys.generate(rsa)
    except corral.CorralError as exc:
        _refuse(str(exc))
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / f"{name}.key", out / f"{name}.pub"
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _refuse(f"{private} exists; not overwriting a key")
    with os.fdopen(fd, "wb") as handle:
        handle.write(keys.private_pem(key))
    public.write_text(keys.public_pem(key.public_key()))
    console.print(f"keyid {keys.keyid(key.public_key())}")
    console.print(f"private key {private} (keep it secret), public key {public}")


def pack_cmd(
    plugin_dir: Annotated[Path, typer.Argument(help="The plugin directory to pack.")],
    out: Annotated[Path | None, typer.Option("--out", help="Archive to write.")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="Sign with this key.")] = None,
    publisher: Annotated[str, typer.Option("--publisher", help="Publisher name.")] = "",
    expires: ExpiresOpt = "365d",
) -> None:
    """Pack a plugin directory as a .corral archive, signed when --key is given."""
    private = _private(key) if key is not None else None
    try:
        target = pack(
            plugin_dir, out, key=private, publisher=publisher, valid_for=_duration(expires)
        )
    except corral.CorralError as exc:
        _refuse(str(exc))
    console.print(f"packed {target}" + (" (signed)" if private is not None else " (unsigned)"))


def sign(
    package: Annotated[Path, typer.Argument(help="Plugin directory or .corral archive.")],
    key: KeyOpt,
    publisher: PublisherOpt,
    expires: ExpiresOpt = "365d",
) -> None:
    """Sign every file of a package (writes corral.sig.json; rewrites an archive)."""
    private = _private(key)
    try:
        target = sign_package(package, private, publisher=publisher, valid_for=_duration(expires))
    except corral.CorralError as exc:
        _refuse(str(exc))
    console.print(f"signed by {keys.keyid(private.public_key())}: {target}")


def verify(
    package: Annotated[Path, typer.Argument(help="Plugin directory or .corral archive.")],
    keyring: KeyringOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a package as Host.load would: tier proven, publisher, key id, file count."""
    where = Home.at(home)
    try:
        verifier = Verifier(
            Keyring.load(_keyring_path(keyring, home)),
            state=TrustState(where.db),
            store=Store(where.store),
        )
        verified = verifier.verify(package)
    except corral.CorralError as exc:
        if as_json:
            emit_json({"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)}})
            raise typer.Exit(1) from None
        _refuse(str(exc))
    if as_json:
        emit_json({"ok": True, "plugin": verified.manifest.name, **verified.details()})
        return
    manifest = verified.manifest
    console.print(f"[green]verified[/green]: {manifest.name} {manifest.version}")
    console.print(f"tier proven: {verified.tier}")
    console.print(f"publisher: {escape(verified.publisher or '(none)')}")
    console.print(f"keyid: {verified.keyid or '(unsigned)'}")
    console.print(f"files: {verified.file_count}")
    console.print(f"digest: {verified.digest}")


@keyring_app.command("add")
def keyring_add(  # noqa: PLR0917 - a CLI command's signature is its options
    public_key: Annotated[Path, typer.Argument(help="Public key PEM (NAME.pub).")],
    publisher: PublisherOpt,
    tier: Annotated[
        str,
        typer.Option(
            "--tier",
            help="professional (trusted signer) or enterprise "
            "(verified publisher); community is allowed too.",
        ),
    ],
    expires: Annotated[
        str | None,
        typer.Option(
            "--expires",
            help="When the key stops being trusted: a date (2027-06-30) or a span from now "
            "(365d, 52w); at least 90 days away.",
        ),
    ] = None,
    keyring: KeyringOpt = None,
    home: HomeOpt = None,
) -> None:
    """Trust a public key for a tier."""
    if tier not in ("community", "professional", "enterprise"):
        _refuse(f"--tier {tier!r}: expected community, professional or enterprise")
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        key = keys.load_public(public_key.read_bytes(), str(public_key))
        entry = KeyEntry(
            keyid=keys.keyid(key),
            publisher=publisher,
            tier=tier,  # type: ignore[arg-type]  # pydantic validates the literal
            public_key=keys.public_pem(key),
            not_before=now,
            not_after=_until(expires, now) if expires else None,
        )
        path = _keyring_path(keyring, home)
        Keyring.load(path).with_entry(entry).save(path)
    except OSError as exc:
        _refuse(f"{public_key}: {exc.strerror}")
    except ValidationError as exc:
        err = exc.errors()[0]
        _refuse(str((err.get("ctx") or {}).get("error") or err["msg"]))
    except corral.CorralError as exc:
        _refuse(str(exc))
    console.print(f"trusted {entry.keyid} ({escape(publisher)}) for {tier} in {path}")


@keyring_app.command("revoke")
def keyring_revoke(
    keyid: Annotated[str, typer.Argument(help="The key id to revoke.")],
    keyring: KeyringOpt = None,
    home: HomeOpt = None,
) -> None:
    """Revoke a key: every package it signed is refused from the next load on."""
    path = _keyring_path(keyring, home)
    try:
        ring = Keyring.load(path)
        entry = ring.get(keyid)
        if entry is None:
            _refuse(f"key {keyid} is not in {path}")
        now = datetime.now(UTC).replace(microsecond=0)
        ring.with_entry(entry.model_copy(update={"revoked": True, "revoked_at": now})).save(path)
    except corral.CorralError as exc:
        _refuse(str(exc))
    console.print(f"revoked {keyid} in {path}")


@keyring_app.command("list")
def keyring_list(keyring: KeyringOpt = None, home: HomeOpt = None) -> None:
    """List the trusted keys."""
    try:
        ring = Keyring.load(_keyring_path(keyring, home))
    except corral.CorralError as exc:
        _refuse(str(exc))
    for e in ring.entries:
        state = "revoked" if e.revoked else "valid"
        until = f" until {e.not_after:%Y-%m-%d}" if e.not_after else ""
        console.print(f"{e.keyid}  {e.tier:<12} {escape(e.publisher)}  {state}{until}")
