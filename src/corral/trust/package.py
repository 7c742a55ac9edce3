"""A plugin package, directory or ``.corral`` zip, read once into memory.

Each file is opened without following links, checked to be a regular file
with a single link, and read once; the bytes read are the bytes that get
hashed, checked and stored, so a file changed on disk afterwards changes
nothing. The signature envelope (``corral.sig.json`` at the root) is kept
apart from the members it signs. In a directory, version-control metadata
(``.git``, ``.hg``, ``.svn``) is passed over: it is never stored, so it never
runs.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from corral.errors import ManifestError, ManifestIssue
from corral.limits import DEFAULT_LIMITS, Limits
from corral.manifest import load_manifest, parse_manifest
from corral.manifest.loading import MANIFEST_NAMES
from corral.policy import Manifest
from corral.trust.archive import check_name, check_names, open_zip, read_zip, refuse

SIGNATURE_FILE = "corral.sig.json"
ARCHIVE_SUFFIX = ".corral"
_SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True)
class Package:
    """What a package holds: its members' bytes and its envelope, if signed."""

    source: Path
    kind: str  # "directory" | "archive"
    members: dict[str, bytes] = field(repr=False)
    envelope: bytes | None = field(repr=False, default=None)


def is_archive(path: str | os.PathLike[str]) -> bool:
    return Path(path).is_file() and zipfile.is_zipfile(path)


def open_package(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Package:
    """Read every member of a directory or archive, after every hygiene rule."""
    source = Path(path)
    if is_archive(source):
        members = read_zip(source, limits)
        kind = "archive"
    elif source.is_dir():  # the host named this path; links are refused only inside it
        members = read_directory(source.resolve(), limits)
        kind = "directory"
    else:
        raise refuse(str(source), "is neither a plugin directory nor a .corral archive")
    envelope = members.pop(SIGNATURE_FILE, None)
    if envelope is not None and len(envelope) > limits.envelope_bytes:
        raise refuse(str(source), f"{SIGNATURE_FILE} is larger than {limits.envelope_bytes} bytes")
    return Package(source, kind, members, envelope)


def read_envelope(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> bytes | None:
    """Only the envelope of a package, or None when it is unsigned."""
    source = Path(path)
    if is_archive(source):
        with open_zip(source) as archive:
            try:
                info = archive.getinfo(SIGNATURE_FILE)
            except KeyError:
                return None
            if info.file_size > limits.envelope_bytes:
                raise refuse(str(source), f"{SIGNATURE_FILE} is too large")
            with archive.open(info) as handle:
                return handle.read(limits.envelope_bytes + 1)
    target = source / SIGNATURE_FILE
    if not target.exists() and not target.is_symlink():
        return None
    return _read_file(target, SIGNATURE_FILE, str(source), limits.envelope_bytes)


def read_directory(root: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """Every regular file under ``root`` by relative POSIX path; links and devices refused."""
    package = str(root)
    members: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=_unreadable(package)):
        here = Path(dirpath)
        for name in list(dirnames):
            if stat.S_ISLNK((here / name).lstat().st_mode):
                rel = (here / name).relative_to(root).as_posix()
                raise refuse(package, f"member {rel!r} is a symlink; only regular files")
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            rel = (here / name).relative_to(root).as_posix()
            check_name(package, rel)
            if len(members) >= limits.package_files:
                raise refuse(package, f"more than {limits.package_files} files")
            data = _read_file(here / name, rel, package, limits.member_bytes)
            total += len(data)
            if total > limits.package_bytes:
                raise refuse(package, f"files add up to more than {limits.package_bytes} bytes")
            members[rel] = data
    check_names(package, members)
    return members


def _unreadable(package: str) -> Callable[[OSError], None]:
    """os.walk skips a directory it cannot list; a package must not lose files that way."""

    def fail(exc: OSError) -> None:
        raise refuse(package, f"cannot list {exc.filename}: {exc.strerror}")

    return fail


def _read_file(path: Path, rel: str, package: str, cap: int) -> bytes:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        raise refuse(package, f"member {rel!r} is a symlink; only regular files")
    if not stat.S_ISREG(info.st_mode):
        raise refuse(package, f"member {rel!r} is a device or special file; only regular files")
    if info.st_nlink > 1:
        raise refuse(package, f"member {rel!r} is a hard link ({info.st_nlink} names)")
    if info.st_size > cap:
        raise refuse(package, f"member {rel!r} is {info.st_size} bytes; at most {cap}")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise refuse(package, f"member {rel!r} changed while being read")
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise refuse(package, f"member {rel!r} is more than {cap} bytes")
    return data


def manifest_member(members: dict[str, bytes], package: str) -> tuple[str, bytes]:
    """The manifest's name and bytes among ``members`` (plugin.yaml before plugin.json)."""
    for name in MANIFEST_NAMES:
        if name in members:
            return name, members[name]
    raise _no_manifest(package)


def _no_manifest(package: str) -> ManifestError:
    message = f"no manifest: expected {' or '.join(MANIFEST_NAMES)}"
    return ManifestError([ManifestIssue(package, None, "", message)])


def read_manifest(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """The manifest of a directory or archive, for clear manifest errors before anything else."""
    if not is_archive(path):
        return load_manifest(path, limits=limits)
    with open_zip(Path(path)) as archive:
        for name in MANIFEST_NAMES:
            try:
                info = archive.getinfo(name)
            except KeyError:
                continue
            if info.file_size > limits.manifest_bytes:
                issue = ManifestIssue(f"{path}:{name}", None, "", "larger than the manifest limit")
                raise ManifestError([issue])
            with archive.open(info) as handle:
                data = handle.read(limits.manifest_bytes + 1)
            return parse_manifest(data, f"{path}:{name}", limits=limits)
    raise _no_manifest(str(path))
