"""Validation errors as ``ManifestIssue``s a person can act on without a traceback.

pydantic reports locations in the *normalised* manifest and in its own words;
this module maps each location back to where the author wrote it (through the
alias origins), finds its line, and rewrites the message: the value that was
wrong, what was expected, and a "did you mean" when a name is one typo away.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from corral.errors import ManifestIssue
from corral.manifest.aliases import Normalised
from corral.manifest.source import Document, Path
from corral.policy import Manifest, ResourceLimits
from corral.policy.errors import field_path

_FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(Manifest.model_fields),
    "limits": tuple(ResourceLimits.model_fields),
}


def _did_you_mean(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _message(err: Any) -> str:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    loc = tuple(err["loc"])
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "extra_forbidden":
        parent = str(loc[0]) if len(loc) > 1 else ""
        options = _FIELDS.get(parent, ())
        return f"unknown field '{loc[-1]}'" + _did_you_mean(str(loc[-1]), options)
    if kind == "missing":
        return "required field is missing"
    if kind.startswith("int_"):
        return f"expected a whole number, got {value!r}"
    if kind.startswith("float_"):
        return f"expected a number, got {value!r}"
    if kind == "string_type":
        hint = " (put it in quotes)" if isinstance(value, int | float) else ""
        return f"expected text, got {value!r}{hint}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}, got {value!r}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}, got {value!r}"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, got {type(value).__name__}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of fields, got {type(value).__name__}"
    return str(err["msg"])


def issue_at(doc: Document, filename: str, where: Path, message: str) -> ManifestIssue:
    """An issue at source path ``where``, with the line the document recorded for it."""
    return ManifestIssue(filename, doc.line(where), field_path(where), message)


def from_validation(
    exc: ValidationError, doc: Document, normalised: Normalised, filename: str
) -> list[ManifestIssue]:
    """Every pydantic error as a located, rewritten issue, in document order."""
    issues = []
    for err in exc.errors():
        where = normalised.origin(tuple(err["loc"]))
        issues.append(issue_at(doc, filename, where, _message(err)))
    return sorted(issues, key=lambda i: (i.line or 0, i.field))
