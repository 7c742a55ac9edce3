"""A grant: what one plugin may do, as a value that travels into the pen.

``grant()`` computes it on the host; ``to_wire()`` ships it to the worker as
plain msgpack-able data; the guard inside the pen rebuilds it with
``from_wire()``, binds the roots with ``with_roots()`` and asks ``check()``
on every operation. The kernel layers get their lists (``read_globs()`` and
friends) from the same value, so what the guard says and what the kernel
enforces come from one source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any

from corral.policy import paths
from corral.policy.checking import Checker
from corral.policy.decision import Decision, Request
from corral.policy.permission import Permission
from corral.policy.resources import Clamp, ResourceLimits
from corral.policy.tiers import NETWORK_ORDER


@dataclass(frozen=True)
class Grant:
    """The permissions, denies, limits and levels granted to one plugin, with reasons."""

    plugin: str
    tier: str
    permissions: tuple[Permission, ...] = ()
    denies: tuple[Permission, ...] = ()
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    network: str = "none"
    isolation: str = "kernel"
    dropped: tuple[tuple[str, str], ...] = ()
    clamped: tuple[Clamp, ...] = ()
    notes: tuple[str, ...] = ()
    blocked_commands: tuple[str, ...] = ()
    allowed_extensions: tuple[str, ...] = ()
    blocked_paths: tuple[str, ...] = ()
    plugin_dir: str = ""
    work_dir: str = ""
    exec_links: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.network not in NETWORK_ORDER:
            raise ValueError(f"network level {self.network!r} not in {NETWORK_ORDER}")
        for name in ("plugin_dir", "work_dir"):
            root = getattr(self, name)
            if root and paths.normalise(root) != root:
                raise ValueError(f"{name} {root!r} must be an absolute, normalised path")

    def with_roots(
        self, plugin_dir: str, work_dir: str, *, resolve: Callable[[str], str] | None = None
    ) -> Grant:
        """This grant with its relative and ``$WORK`` scopes bound to real directories.

        ``resolve`` (``os.path.realpath`` in practice; passed in so this stays
        pure) records where each literal executable grant really points, so
        ``/bin/echo`` also matches a request for ``/usr/bin/echo``.
        """
        links: dict[str, str] = dict(self.exec_links)
        if resolve is not None:
            for p in (*self.permissions, *self.denies):
                if p.domain == "subprocess" and p.scope and not paths.has_wildcard(p.scope):
                    real = resolve(p.scope)
                    if real != p.scope:
                        links[p.scope] = real
        return replace(
            self,
            plugin_dir=paths.normalise(plugin_dir) or "",
            work_dir=paths.normalise(work_dir) or "",
            exec_links=tuple(sorted(links.items())),
        )

    @cached_property
    def _checker(self) -> Checker:
        return Checker(
            permissions=self.permissions,
            denies=self.denies,
            network=self.network,
            blocked_commands=self.blocked_commands,
            allowed_extensions=self.allowed_extensions,
            blocked_paths=self.blocked_paths,
            plugin_dir=self.plugin_dir,
            work_dir=self.work_dir,
            exec_links=dict(self.exec_links),
        )

    def check(self, request: Request) -> Decision:
        """Whether ``request`` is allowed; a refusal's ``rule`` is the permission it needs."""
        return self._checker.check(request)

    # --- what the kernel layers need ----------------------------------------

    def _globs(self, domain: str, action: str) -> tuple[str, ...]:
        out: dict[str, None] = {}
        for p in self.permissions:
            if p.domain == domain and p.grants(action) and p.scope is not None:
                resolved = paths.resolve(p.scope, self.plugin_dir, self.work_dir)
                if resolved is None:
                    raise ValueError(f"'{p}' needs with_roots() before it can be resolved")
                out[resolved] = None
                link = dict(self.exec_links).get(p.scope) if domain == "subprocess" else None
                if link:
                    out[link] = None
        return tuple(out)

    def read_globs(self) -> tuple[str, ...]:
        """Absolute globs the plugin may read (write and admin grants included)."""
        return self._globs("file", "read")

    def write_globs(self) -> tuple[str, ...]:
        """Absolute globs the plugin may write, create, rename and delete in."""
        return self._globs("file", "write")

    def exec_paths(self) -> tuple[str, ...]:
        """Absolute executables (or globs, above community) the plugin may run."""
        return self._globs("subprocess", "execute")

    def connect_targets(self) -> tuple[str, ...]:
        """``host:port`` patterns the plugin may connect to (empty unless restricted/full)."""
        if self.network not in ("restricted", "full"):
            return ()
        return tuple(
            str(p.scope)
            for p in self.permissions
            if p.domain == "network" and p.grants("connect") and p.scope
        )

    # --- the wire -------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """Plain lists, strings and numbers, for msgpack."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["permissions"] = [str(p) for p in self.permissions]
        data["denies"] = [str(p) for p in self.denies]
        data["limits"] = self.limits.model_dump()
        for name in ("dropped", "clamped", "exec_links"):
            data[name] = [list(item) for item in data[name]]
        for name in ("notes", "blocked_commands", "allowed_extensions", "blocked_paths"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Grant:
        """Rebuild a grant from ``to_wire()`` output, refusing unknown keys."""
        extra = set(data) - {f.name for f in fields(cls)}
        if extra:
            raise ValueError(f"unknown grant fields {sorted(extra)}")
        values = dict(data)
        values["permissions"] = tuple(Permission.parse(p) for p in data.get("permissions", ()))
        values["denies"] = tuple(Permission.parse(p) for p in data.get("denies", ()))
        values["limits"] = ResourceLimits.model_validate(data.get("limits", {}))
        for name in ("dropped", "clamped", "exec_links"):
            values[name] = tuple(tuple(item) for item in data.get(name, ()))
        for name in ("notes", "blocked_commands", "allowed_extensions", "blocked_paths"):
            values[name] = tuple(data.get(name, ()))
        return cls(**values)
