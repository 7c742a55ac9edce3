"""Reading manifests and policy files: bounded, safe, and loud about mistakes.

The steps, in order, each refusing before the next one runs: the file is a
regular file (no symlink out of a plugin directory), no larger than
``Limits.manifest_bytes`` (checked before a byte is parsed), valid UTF-8, safe
YAML or strict JSON; then seed spellings are normalised and the result is
validated into a frozen ``Manifest``. Every problem found at the last two
steps is reported together, each with its file, line and field.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import ValidationError

from corral.errors import ManifestError, ManifestIssue, PolicyError
from corral.limits import DEFAULT_LIMITS, Limits
from corral.manifest import aliases
from corral.manifest.issues import from_validation, issue_at
from corral.manifest.source import Document, read_json, read_yaml
from corral.policy import AdminPolicy, Manifest, default_policy
from corral.policy.errors import PolicyFileError

MANIFEST_NAMES = ("plugin.yaml", "plugin.json")


def _refuse(filename: str, message: str) -> ManifestError:
    return ManifestError([ManifestIssue(filename, None, "", message)])


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a regular file no larger than ``limit``; never follows a final symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise _refuse(str(path), f"cannot open: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(str(path), "not a regular file")
        if info.st_size > limit:
            raise _refuse(str(path), _too_big(info.st_size, limit))
        return handle.read(limit + 1)


def _too_big(size: int, limit: int) -> str:
    return f"{size} bytes is over the {limit}-byte limit; refused before parsing"


def _document(data: bytes, filename: str, limits: Limits) -> Document:
    if len(data) > limits.manifest_bytes:
        raise _refuse(filename, _too_big(len(data), limits.manifest_bytes))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(filename, f"not UTF-8 text (byte {exc.start})") from None
    if filename.endswith(".json"):
        return read_json(text, filename)
    return read_yaml(text, filename)


def parse_manifest(data: bytes, filename: str, *, limits: Limits = DEFAULT_LIMITS) -> Manifest:
    """Validate manifest bytes; ``filename`` names errors and picks JSON (``.json``) or YAML."""
    doc = _document(data, filename, limits)
    if not isinstance(doc.data, dict):
        raise _refuse(filename, "a manifest is a mapping of fields (name, version, entry, ...)")
    normalised = aliases.normalise(doc.data)
    issues = [issue_at(doc, filename, where, msg) for where, msg in normalised.issues]
    try:
        manifest = Manifest.model_validate(normalised.data)
    except ValidationError as exc:
        issues.extend(from_validation(exc, doc, normalised, filename))
    if issues:
        raise ManifestError(sorted(issues, key=lambda i: (i.line or 0, i.field)))
    return manifest


def find_manifest(plugin_dir: str | os.PathLike[str]) -> Path:
    """``plugin.yaml`` in ``plugin_dir``, else ``plugin.json``; ``ManifestError`` if neither."""
    root = Path(plugin_dir)
    for name in MANIFEST_NAMES:
        candidate = root / name
        if candidate.exists() or candidate.is_symlink():
            return candidate
    raise _refuse(str(root), f"no manifest: expected {' or '.join(MANIFEST_NAMES)} here")


def load_manifest(
    plugin_dir: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS
) -> Manifest:
    """Read and validate the manifest of the plugin in ``plugin_dir``."""
    path = find_manifest(plugin_dir)
    return parse_manifest(_read_bounded(path, limits.manifest_bytes), str(path), limits=limits)


def load_policy(
    path: str | os.PathLike[str] | None, *, limits: Limits = DEFAULT_LIMITS
) -> AdminPolicy:
    """The admin policy in ``path`` (``corral-policy.yaml``); the defaults when None."""
    if path is None:
        return default_policy()
    filename = str(path)
    try:
        doc = _document(_read_bounded(Path(path), limits.manifest_bytes), filename, limits)
    except ManifestError as exc:
        raise PolicyError(str(exc)) from None
    try:
        return AdminPolicy.from_dict(doc.data)
    except PolicyFileError as exc:
        lines = [str(issue_at(doc, filename, _split(f), m)) for f, m in exc.issues]
        raise PolicyError("\n".join(lines)) from None


def _split(field: str) -> tuple[str | int, ...]:
    """``plugins.x.grant[0]`` back into ``("plugins", "x", "grant", 0)``."""
    parts: list[str | int] = []
    for chunk in field.replace("[", ".[").split("."):
        if chunk.startswith("[") and chunk.endswith("]") and chunk[1:-1].isdigit():
            parts.append(int(chunk[1:-1]))
        elif chunk:
            parts.append(chunk)
    return tuple(parts)
