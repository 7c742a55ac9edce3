"""The policy core's own exceptions.

``corral.policy`` imports nothing else of corral's (not even ``corral.errors``),
so that the decision code stays a pure function of its inputs. These are plain
``ValueError`` subclasses carrying enough structure (the offending text, the
field path) for ``corral.manifest`` to turn them into a ``ManifestError`` or a
``PolicyError`` that names the file and the line.
"""

from __future__ import annotations

from collections.abc import Sequence


class PermissionSyntaxError(ValueError):
    """A permission string does not follow ``domain:action[=scope]`` or its scope rules."""

    def __init__(self, text: str, message: str) -> None:
        super().__init__(message)
        self.text = text
        self.message = message


class PolicyFileError(ValueError):
    """An admin policy document is invalid; ``issues`` holds (field path, message) pairs."""

    def __init__(self, issues: Sequence[tuple[str, str]]) -> None:
        self.issues = tuple(issues)
        super().__init__("; ".join(f"{f}: {m}" if f else m for f, m in self.issues))


def field_path(loc: Sequence[str | int]) -> str:
    """A location as people write it: ``permissions[2]``, ``limits.memory_mb``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
