"""Vetting files and trees: reading bounded bytes, parsing, one walk per module.

A file that cannot be vetted (too large, not parseable, compiled, a link) is
itself a finding; nothing in a plugin tree is skipped silently, because what
vetting skips is exactly where an attacker would put the payload.
"""

from __future__ import annotations

import ast
import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from corral.limits import DEFAULT_LIMITS, Limits
from corral.vetting.finding import Finding, fingerprint
from corral.vetting.rules.base import Rule
from corral.vetting.rules.scan import TooLarge, Unparsable, Unvettable
from corral.vetting.walk import RuleSet, Walker

SOURCE_SUFFIXES = (".py", ".pyw")
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# What the store leaves out never runs, so vetting leaves it out too: it
# reads what the store holds (trust/archive.py refuses these dirs and .pyc/.pyo).
_SKIP_DIRS = frozenset({"__pycache__", ".git", ".hg", ".svn"})

_DEFAULT_RULES: RuleSet | None = None


def default_rules() -> RuleSet:
    """The built-in rules, indexed once per process."""
    global _DEFAULT_RULES
    if _DEFAULT_RULES is None:
        _DEFAULT_RULES = RuleSet()
    return _DEFAULT_RULES


def whole_file(rule: type[Rule], path: str, message: str, line: int = 1, col: int = 1) -> Finding:
    """A finding about a file as a whole (its fingerprint ignores the line)."""
    return Finding(
        rule=rule.id,
        name=rule.name,
        severity=rule.severity,
        confidence=rule.confidence,
        path=path,
        line=max(line, 1),
        col=max(col, 1),
        message=message,
        fingerprint=fingerprint(rule.id, path, "<file>", message.split(":", maxsplit=1)[0]),
        scope="<file>",
    )


def vet_source(
    source: str | bytes, path: str = "<string>", *, rules: RuleSet | None = None
) -> list[Finding]:
    """Findings for one module's source; a syntax error is a finding, not an exception."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return [
            whole_file(
                Unparsable, path, f"does not parse: {exc.msg}", exc.lineno or 1, exc.offset or 1
            )
        ]
    except (ValueError, RecursionError, MemoryError) as exc:
        return [whole_file(Unparsable, path, f"does not parse: {type(exc).__name__}")]
    walker = Walker(path, rules or default_rules())
    try:
        return walker.run(tree)
    except RecursionError:
        # Python compiles deeper nesting than this walk can follow, so the rest
        # of the file went unseen: exactly what an evasion would look like.
        found = whole_file(Unparsable, path, "nested too deeply to vet: the rest went unseen")
        return [replace(found, severity="critical"), *walker.findings]


def _read(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it is larger than ``limit`` (checked before reading)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > limit:
            return None
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def vet_file(
    path: Path, rel: str, *, rules: RuleSet | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[Finding]:
    """Findings for one file on disk, named ``rel`` in the report."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            return [whole_file(Unvettable, rel, "a symbolic link: vetting reads no links")]
        if rel.endswith(COMPILED_SUFFIXES):
            return [whole_file(Unvettable, rel, "compiled code: vetting reads source only")]
        if not rel.endswith(SOURCE_SUFFIXES) or not stat.S_ISREG(info.st_mode):
            return []
        data = _read(path, limits.vet_file_bytes)
    except OSError as exc:
        return [whole_file(Unparsable, rel, f"cannot be read: {exc.strerror}")]
    if data is None:
        return [
            whole_file(
                TooLarge,
                rel,
                f"over the {limits.vet_file_bytes}-byte vetting cap: not vetted",
            )
        ]
    return vet_source(data, rel, rules=rules)


def plugin_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Every file under ``root`` (links included, not followed), sorted, with its relative name."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            yield path, path.relative_to(root).as_posix()
        for name in list(dirnames):
            if (base / name).is_symlink():
                yield base / name, (base / name).relative_to(root).as_posix()


def vet_tree(
    root: str | os.PathLike[str], *, rules: RuleSet | None = None, limits: Limits = DEFAULT_LIMITS
) -> list[Finding]:
    """Findings for every Python (and compiled) file under ``root``."""
    found: list[Finding] = []
    for path, rel in plugin_files(Path(root)):
        found.extend(vet_file(path, rel, rules=rules, limits=limits))
    return found
