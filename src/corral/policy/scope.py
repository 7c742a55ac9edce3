"""Scopes by domain: how each is spelled, how it matches, how one covers another.

Every domain's scope has one *kind*, and each kind knows three things: its
canonical spelling (checked when a permission is built), how to read a
concrete request target, and a matcher compiled once per grant so that the
guard's check on every ``open()`` inside the pen costs a regex match, not a
parse.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from corral.policy import hosts, paths

Target = str | hosts.Target
Matcher = Callable[[Target], bool]

KINDS = {"file": "path", "subprocess": "exec", "network": "net", "env": "env"}
_ENV = re.compile(r"\*|[A-Za-z_][A-Za-z0-9_]*\*?")
_NAME_MAX = 256


def kind_of(domain: str) -> str:
    """path, exec, net, env, or name (hooks, config, database and app domains)."""
    return KINDS.get(domain, "name")


def canonical(domain: str, scope: str) -> str:
    """The canonical spelling of ``scope`` in ``domain``; ``ValueError`` if malformed."""
    kind = kind_of(domain)
    if kind == "path":
        return paths.canonical_path(scope)
    if kind == "exec":
        return paths.canonical_path(scope, absolute_only=True)
    if kind == "net":
        return hosts.canonical(scope)
    if kind == "env":
        if not _ENV.fullmatch(scope):
            raise ValueError(
                f"{scope!r} is not an environment variable name (letters, digits, _; "
                "a trailing * for a prefix)"
            )
        return scope
    if (
        not scope
        or len(scope) > _NAME_MAX
        or any(ch.isspace() or not ch.isprintable() for ch in scope)
    ):
        raise ValueError(f"scope {scope!r} must be 1-{_NAME_MAX} printable characters, no spaces")
    return scope


def is_wildcard(domain: str, scope: str) -> bool:
    """Whether a canonical scope names more than one thing."""
    if kind_of(domain) == "net":
        return hosts.parse_pattern(scope).wildcard
    return paths.has_wildcard(scope)


def prepare(domain: str, target: str) -> Target | None:
    """A request target in the form the domain's matchers take; None if unreadable."""
    kind = kind_of(domain)
    if kind in ("path", "exec"):
        return paths.normalise(target)
    if kind == "net":
        return hosts.parse_target(target)
    return target


def _never(_: Target) -> bool:
    return False


def _always(_: Target) -> bool:
    return True


def compile_matcher(domain: str, scope: str | None, plugin_dir: str, work_dir: str) -> Matcher:
    """A predicate over prepared targets; unresolvable roots match nothing (fail closed)."""
    if scope is None:
        return _always
    kind = kind_of(domain)
    if kind in ("path", "exec"):
        glob = paths.resolve(scope, plugin_dir, work_dir)
        if glob is None:
            return _never
        regex = paths.glob_regex(glob)
        return lambda t: isinstance(t, str) and regex.fullmatch(t) is not None
    if kind == "net":
        pattern = hosts.parse_pattern(scope)
        return lambda t: isinstance(t, hosts.Target) and pattern.matches(t)
    if kind == "env" and scope.endswith("*"):
        prefix = scope[:-1]
        return lambda t: isinstance(t, str) and t.startswith(prefix)
    if kind == "env":
        return lambda t: t == scope
    regex = re.compile(fnmatch.translate(scope))
    return lambda t: isinstance(t, str) and regex.fullmatch(t) is not None


def covers(domain: str, wide: str | None, narrow: str | None) -> bool:
    """Whether scope ``wide`` includes everything scope ``narrow`` does (conservatively)."""
    if wide is None or wide == narrow:
        return True
    if narrow is None:
        return False
    kind = kind_of(domain)
    if kind in ("path", "exec"):
        return paths.covers(wide, narrow)
    if kind == "net":
        return hosts.parse_pattern(wide).covers(hosts.parse_pattern(narrow))
    if kind == "env" and wide.endswith("*"):
        return narrow.startswith(wide[:-1])
    if kind == "name" and not paths.has_wildcard(narrow):
        return fnmatch.fnmatchcase(narrow, wide)
    return False
