"""Deciding one request against a grant, with everything compiled up front.

The guard inside the pen asks on every ``open()``, ``connect()`` and
``exec``, so a ``Checker`` does its parsing once: scopes become regexes and
address patterns, grouped by domain, roots already substituted. A check is
then a few dictionary lookups and matches.

Order of judgement: a target that cannot be read is refused; a deny (the
plugin's own, the administrator's, a revoke) beats everything; then the
administrator's command, path and extension rules; then the network level;
and only then the allow list. Every refusal names the permission that would
have allowed the request, so the plugin author knows the line to add.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping

from corral.policy import paths
from corral.policy import scope as scopes
from corral.policy.decision import Decision, Request
from corral.policy.hosts import Target
from corral.policy.permission import Permission, grants_action

Entry = tuple[Permission, scopes.Matcher, Decision]


class Checker:
    """A grant's permissions and rules, compiled for fast repeated decisions."""

    def __init__(
        self,
        *,
        permissions: Iterable[Permission],
        denies: Iterable[Permission],
        network: str,
        blocked_commands: Iterable[str] = (),
        allowed_extensions: Iterable[str] = (),
        blocked_paths: Iterable[str] = (),
        plugin_dir: str = "",
        work_dir: str = "",
        exec_links: Mapping[str, str] | None = None,
    ) -> None:
        self._roots = (plugin_dir, work_dir)
        self._links = dict(exec_links or {})
        self._allow = self._index(permissions)
        self._deny = self._index(denies)
        self._network = network
        self._commands = frozenset(blocked_commands)
        self._extensions = tuple(allowed_extensions)
        self._blocked = tuple(
            paths.glob_regex(p if p.startswith("/") else f"/**/{p}") for p in blocked_paths
        )

    def _index(self, permissions: Iterable[Permission]) -> dict[str, list[Entry]]:
        index: dict[str, list[Entry]] = {}
        for p in permissions:
            granted = Decision(True, f"granted by '{p}'", str(p))
            index.setdefault(p.domain, []).append((p, self._matcher(p), granted))
        return index

    def _matcher(self, p: Permission) -> scopes.Matcher:
        own = scopes.compile_matcher(p.domain, p.scope, *self._roots)
        link = self._links.get(p.scope or "") if p.domain == "subprocess" else None
        if link is None:
            return own
        real = scopes.compile_matcher(p.domain, link, *self._roots)
        return lambda t: own(t) or real(t)

    def check(self, request: Request) -> Decision:
        """Allow or refuse ``request``; see the module docstring for the order."""
        domain, action = request.domain, request.action
        target = scopes.prepare(domain, request.target) if request.target else ""
        if target is None:
            return self._refuse(request, f"{request.target!r} is not a valid {domain} target")
        for p, match, _ in self._deny.get(domain, ()):
            if grants_action(domain, action, p.action) and match(target):
                return _final(f"{request} is denied by '{p}' (a deny beats any allow)")
        refusal = self._admin_rules(request, target)
        if refusal:
            return _final(refusal)
        if domain == "network" and self._network != "restricted":
            return self._network_level(request, target)
        for p, match, granted in self._allow.get(domain, ()):
            if p.grants(action) and match(target):
                return granted
        return self._refuse(request, f"no permission in the grant allows {request}")

    def _refuse(self, request: Request, reason: str) -> Decision:
        """A refusal that a manifest line would lift: ``rule`` names that line."""
        return Decision(False, reason, self.needed(request))

    def _admin_rules(self, request: Request, target: scopes.Target) -> str:
        if not isinstance(target, str) or request.domain not in ("file", "subprocess"):
            return ""
        if request.domain == "subprocess":
            if target in self._commands or posixpath.basename(target) in self._commands:
                return f"{target!r} is a blocked command in the admin policy"
            return ""
        if any(regex.fullmatch(target) for regex in self._blocked):
            return f"{target!r} matches a blocked path pattern in the admin policy"
        if self._extensions and request.action in ("write", "delete"):
            suffix = posixpath.splitext(target)[1].lower()
            if suffix not in self._extensions:
                allowed = ", ".join(self._extensions)
                return f"the admin policy allows writing only {allowed} files, not {target!r}"
        return ""

    def _network_level(self, request: Request, target: scopes.Target) -> Decision:
        level = self._network
        if level == "full":
            return Decision(True, "network level is full", "network=full")
        if level == "internal" and isinstance(target, Target) and _loopback(target):
            return Decision(
                True, "loopback inside the pen (network level internal)", "network=internal"
            )
        return self._refuse(request, f"network level is {level}; it needs {self.needed(request)}")

    def needed(self, request: Request) -> str:
        """The permission that would allow ``request``, spelled as a manifest line."""
        head = f"{request.domain}:{request.action}"
        if not request.target:
            return head
        shown = request.target
        if scopes.kind_of(request.domain) == "path":
            shown = self._relative(paths.normalise(request.target) or request.target)
        return f"{head}={shown}"

    def _relative(self, path: str) -> str:
        plugin_dir, work_dir = self._roots
        if work_dir and (path + "/").startswith(work_dir.rstrip("/") + "/"):
            return paths.WORK + path[len(work_dir.rstrip("/")) :]
        if plugin_dir and (path + "/").startswith(plugin_dir.rstrip("/") + "/"):
            return path[len(plugin_dir.rstrip("/")) + 1 :] or "."
        return path


def _loopback(target: Target) -> bool:
    return target.ip.is_loopback if target.ip is not None else target.host == "localhost"


def _final(reason: str) -> Decision:
    """A refusal no manifest line can lift (a deny, an admin rule): ``rule`` stays empty.

    Telling the author to "add" a permission here would mislead them; the
    reason says who refused.
    """
    return Decision(False, reason, "")
