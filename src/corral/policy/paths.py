"""Path scopes: canonical form, roots, globs compiled once, lexical normalisation.

A path scope in a manifest is one of three shapes: relative (``data/**``,
inside the plugin's own directory), rooted at ``$WORK`` (the plugin's private
work directory), or absolute. The two roots are only known when a worker is
laid out, so scopes stay unresolved in a grant until ``with_roots`` binds them.

Matching is lexical: ``..``, ``//`` and ``.`` are folded away before a glob is
consulted, so ``/plugin/data/../../etc/passwd`` is judged as ``/etc/passwd``.
Symbolic links are the kernel's business (Landlock resolves them), not this
module's.
"""

from __future__ import annotations

import posixpath
import re

WORK = "$WORK"
WILDCARDS = frozenset("*?")
_UNRESOLVED = ("/\x00plugin", "/\x00work")  # NUL never appears in a valid scope


def has_wildcard(text: str) -> bool:
    """Whether ``text`` contains a glob wildcard (``*`` or ``?``)."""
    return any(ch in WILDCARDS for ch in text)


def canonical_path(scope: str, *, absolute_only: bool = False) -> str:
    """The canonical spelling of a path scope; ``ValueError`` says what is wrong.

    Escapes are refused rather than normalised: ``data/../../etc`` in a
    manifest is a mistake or an attack, and either way it should be visible.
    """
    if not scope:
        raise ValueError("empty path scope")
    if any(ord(ch) < 32 for ch in scope):
        raise ValueError("control characters are not allowed in a path scope")
    if scope.startswith("~"):
        raise ValueError(f"'~' is not expanded in {scope!r}; use $WORK or an absolute path")
    prefix, rest = _split_root(scope)
    if absolute_only and not rest.startswith("/"):
        raise ValueError(f"{scope!r} must be an absolute path such as /usr/bin/git")
    segments = [s for s in rest.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise ValueError(f"'..' is not allowed in path scope {scope!r}")
    if any("**" in s and s != "**" for s in segments):
        raise ValueError(f"'**' must be a whole path segment in {scope!r}")
    body = "/".join(segments)
    if prefix or rest.startswith("/"):
        return f"{prefix}/{body}" if body or not prefix else prefix
    return body or "."


def _split_root(scope: str) -> tuple[str, str]:
    if scope == WORK or scope.startswith(WORK + "/"):
        return WORK, scope[len(WORK) :]
    if "$" in scope:
        raise ValueError(f"unknown variable in {scope!r}; only {WORK} is defined")
    return "", scope


def is_inside(scope: str) -> bool:
    """Whether a canonical scope stays inside the plugin directory or ``$WORK``."""
    return not scope.startswith("/")


def resolve(scope: str, plugin_dir: str, work_dir: str) -> str | None:
    """An absolute glob for a canonical scope, or None while its root is unknown."""
    if scope.startswith("/"):
        return scope
    if scope.startswith(WORK):
        return (work_dir + scope[len(WORK) :]) if work_dir else None
    if not plugin_dir:
        return None
    return plugin_dir if scope == "." else f"{plugin_dir.rstrip('/')}/{scope}"


def normalise(path: str) -> str | None:
    """Lexically normalised absolute path, or None for a relative or malformed one."""
    if not path.startswith("/") or "\x00" in path:
        return None
    folded = posixpath.normpath(path)
    return "/" + folded.lstrip("/")


def glob_regex(glob: str) -> re.Pattern[str]:
    """Compile an absolute glob: ``*`` and ``?`` stay in one segment, ``**`` spans any.

    ``dir/**`` matches ``dir`` itself too, so a grant on a directory's contents
    also lets the plugin list that directory.
    """
    parts: list[str] = []
    for segment in glob.split("/")[1:]:
        if segment == "**":
            parts.append("(?:/.*)?")
        elif segment:  # a segment is never empty: "/*" does not match "/"
            parts.append("/(?=[^/])" + _segment(segment))
    return re.compile("".join(parts) or "/", re.DOTALL)


def _segment(segment: str) -> str:
    out = []
    for ch in segment:
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def covers(wide: str, narrow: str) -> bool:
    """Whether every path canonical scope ``narrow`` names is also named by ``wide``.

    Conservative: when in doubt it answers False, because callers use it to
    decide that something may be dropped or widened without asking.
    """
    if wide == narrow:
        return True
    a, b = resolve(wide, *_UNRESOLVED), resolve(narrow, *_UNRESOLVED)
    assert a is not None and b is not None
    if not has_wildcard(b):
        return glob_regex(a).fullmatch(b) is not None
    if not a.endswith("/**") or has_wildcard(a[:-3]):
        return False
    return b == a[:-3] or b.startswith(a[:-3] + "/")
