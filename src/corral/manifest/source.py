"""Manifest text to plain data, remembering the line every field came from.

YAML is read as events first and refused outright if it uses anchors,
aliases or explicit tags: a manifest has no need for them, and they are the
way to a billion-laughs expansion or to a constructor nobody meant to run.
Nesting is bounded too, because the composer recurses. Only then is the text
composed into nodes, whose marks give each field path its line.

JSON is parsed by the ``json`` module (YAML 1.1 reads a few JSON spellings
differently, such as ``1e5``), and its lines come from a best-effort YAML
composition of the same text, which is good enough to point at a field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from corral.errors import ManifestError, ManifestIssue

Path = tuple[str | int, ...]
MAX_DEPTH = 32


@dataclass(frozen=True)
class Document:
    """Parsed data and, for each field path, the 1-based line it starts on."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


# libyaml's C parser where PyYAML was built with it: the same events, nodes and
# marks as the pure-Python one, in a tenth of the time (it is on every load).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _fail(filename: str, line: int | None, message: str) -> ManifestError:
    return ManifestError([ManifestIssue(filename, line, "", message)])


def _mark_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def _check_events(text: str, filename: str) -> None:
    depth = documents = 0
    for event in yaml.parse(text, Loader=_LOADER):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _fail(filename, line, "YAML anchors and aliases are not allowed in a manifest")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _fail(filename, line, f"YAML tags ({tag}) are not allowed in a manifest")
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _fail(filename, line, "a manifest is one YAML document, not several")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _fail(filename, line, f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, recording lines."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[Path, int] = {(): 1}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.MappingNode):
            return dict(self._pairs(node, path))
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index)))
            return items
        return self._constructor.construct_object(node, deep=True)

    def _pairs(self, node: yaml.MappingNode, path: Path) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = self._constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _fail(self.filename, line, f"keys must be text, got {key!r}")
            if key in seen:
                raise _fail(self.filename, line, f"duplicate key '{key}'")
            seen.add(key)
            self.lines[(*path, key)] = line
            yield key, self.build(value_node, (*path, key))


def read_yaml(text: str, filename: str) -> Document:
    """Parse YAML text safely; ``ManifestError`` (with the line) when it is not valid."""
    try:
        _check_events(text, filename)
        node = yaml.compose(text, Loader=_LOADER)
        if node is None:
            raise _fail(filename, None, "the manifest is empty")
        builder = _Builder(filename)
        return Document(builder.build(node, ()), builder.lines)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise _fail(filename, _mark_line(exc), f"not valid YAML: {problem}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"duplicate key '{key}'")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(text: str, filename: str) -> Document:
    """Parse JSON text strictly, with field lines found on a best-effort basis."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise _fail(filename, exc.lineno, f"not valid JSON: {exc.msg}") from None
    except (ValueError, RecursionError) as exc:
        raise _fail(filename, None, f"not valid JSON: {exc}") from None
    try:
        lines = read_yaml(text.replace("\t", " "), filename).lines
    except (ManifestError, RecursionError):
        lines = {}
    return Document(data, lines)
