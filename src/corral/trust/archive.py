"""Archive hygiene: which member names and entries a package may contain at all.

Every rule here refuses; none repairs. A name is a relative POSIX path whose
parts are neither empty, ``.`` nor ``..``, without backslashes or NUL, and
unique even ignoring case and Unicode normalisation (a package must unpack to
the same files on every filesystem, and a case-insensitive one would let one
member silently replace another). Entries are regular files or directories:
links and devices are refused where they are found, in zip attributes or on
disk. Sizes are checked from the zip's directory before a byte is inflated and
bounded again while reading, because the directory is attacker-written too.

Compiled and start-up files (``.pyc``, ``__pycache__/``, ``.pth``, ``.so``) are
refused unless the tier allows them: Python prefers a matching ``.pyc`` to the
source it was vetted from, a sourceless ``.pyc`` imports with no source at
all, and a ``.pth`` runs code at start-up. By default only the enterprise tier
(a verified publisher) may ship native extensions (``.so``); bytecode and
``.pth`` files are refused at every tier, since the pen runs source only.
"""

from __future__ import annotations

import stat
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path

from corral.errors import TrustError
from corral.limits import DEFAULT_LIMITS, Limits

COMPILED_SUFFIXES = (".pyc", ".pyo", ".pth", ".so")
TIER_ALLOWS: dict[str, frozenset[str]] = {
    "community": frozenset(),
    "professional": frozenset(),
    "enterprise": frozenset({".so"}),
}


def refuse(package: str, message: str) -> TrustError:
    return TrustError(f"package {package}: {message}")


def check_name(package: str, name: str) -> str:
    """``name`` when it is a safe relative POSIX path; a ``TrustError`` naming it otherwise."""
    if not name or "\0" in name or "\\" in name:
        raise refuse(package, f"member {name!r} has an empty name, a NUL or a backslash")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise refuse(package, f"member {name!r} is an absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise refuse(package, f"member {name!r} climbs out of the package with '..'")
    if any(p in ("", ".") for p in parts):
        raise refuse(package, f"member {name!r} has an empty or '.' path component")
    return name


def check_names(package: str, names: Iterable[str]) -> None:
    """No duplicates, no two names equal but for case, no file that is also a directory."""
    seen: dict[str, str] = {}
    exact: set[str] = set()
    for name in names:
        check_name(package, name)
        if name in exact:
            raise refuse(package, f"member {name!r} appears more than once")
        exact.add(name)
        folded = unicodedata.normalize("NFC", name).casefold()
        if folded in seen:
            raise refuse(
                package, f"members {seen[folded]!r} and {name!r} collide when case is ignored"
            )
        seen[folded] = name
    for name in exact:
        parts = name.split("/")
        for end in range(1, len(parts)):
            if (prefix := "/".join(parts[:end])) in exact:
                raise refuse(package, f"member {prefix!r} is both a file and a directory")


def compiled_problem(name: str, tier: str) -> str:
    """Why ``name`` may not be shipped at ``tier`` ('' when it may)."""
    allowed = TIER_ALLOWS.get(tier, frozenset())
    parts = name.split("/")
    if "__pycache__" in parts[:-1]:
        return (
            f"member {name!r} is in __pycache__: compiled bytecode is not accepted "
            "(delete the __pycache__ directories; the pen runs source only)"
        )
    for suffix in COMPILED_SUFFIXES:
        if name.endswith(suffix) or (suffix == ".so" and ".so." in parts[-1]):
            if suffix in allowed:
                return ""
            return f"member {name!r}: {suffix} files are not accepted at the {tier} tier"
    return ""


def check_compiled(package: str, names: Iterable[str], tier: str) -> None:
    for name in sorted(names):
        if problem := compiled_problem(name, tier):
            raise refuse(package, problem)


def _zip_kind(info: zipfile.ZipInfo) -> str:
    """'file', 'dir', or the name of what else the entry's Unix mode says it is."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISDIR(mode):
            return "dir"
        if not stat.S_ISREG(mode):
            return "device or special file"
    return "dir" if info.filename.endswith("/") else "file"


def open_zip(path: Path) -> zipfile.ZipFile:
    """The zip at ``path``, or a ``TrustError`` when it is not a readable one."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise refuse(str(path), f"not a readable zip archive ({exc})") from None


def read_zip(path: Path, limits: Limits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """Every file member of a ``.corral`` zip by name, after every hygiene rule."""
    package = str(path)
    if path.is_symlink() or not path.is_file():
        raise refuse(package, "is not a regular file")
    if path.stat().st_size > limits.package_bytes:
        raise refuse(package, f"archive is larger than {limits.package_bytes} bytes")
    with open_zip(path) as archive:
        infos = archive.infolist()
        if len(infos) > limits.package_files:
            raise refuse(package, f"{len(infos)} members; at most {limits.package_files}")
        files: list[zipfile.ZipInfo] = []
        total = 0
        for info in infos:
            kind = _zip_kind(info)
            name = info.filename.rstrip("/") if kind == "dir" else info.filename
            check_name(package, name)
            if kind == "dir":
                continue
            if kind != "file":
                raise refuse(package, f"member {name!r} is a {kind}; only regular files")
            if info.flag_bits & 0x1:
                raise refuse(package, f"member {name!r} is encrypted")
            _check_size(package, info, limits)
            total += info.file_size
            if total > limits.package_bytes:
                raise refuse(package, f"members add up to more than {limits.package_bytes} bytes")
            files.append(info)
        check_names(package, [i.filename for i in files])
        return {info.filename: _read_member(archive, info, package, limits) for info in files}


def _check_size(package: str, info: zipfile.ZipInfo, limits: Limits) -> None:
    name = info.filename
    if info.file_size > limits.member_bytes:
        raise refuse(
            package,
            f"member {name!r} inflates to {info.file_size} bytes; at most {limits.member_bytes}",
        )
    if info.file_size > limits.compression_ratio_floor_bytes:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.compression_ratio:
            raise refuse(
                package,
                f"member {name!r} has compression ratio {ratio:.0f}:1; "
                f"at most {limits.compression_ratio}:1 (a zip bomb?)",
            )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, package: str, limits: Limits
) -> bytes:
    try:
        with archive.open(info) as handle:
            data = handle.read(limits.member_bytes + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise refuse(package, f"member {info.filename!r} cannot be read ({exc})") from None
    if len(data) != info.file_size:
        raise refuse(package, f"member {info.filename!r} is not the size its entry says")
    return data
