"""A report as text for people, JSON for scripts, SARIF 2.1.0 for code-scanning tools.

SARIF levels follow severity (critical/high -> error, medium -> warning,
low -> note), except that a finding whose permission is undeclared is always
an error. ``partialFingerprints`` carries corral's fingerprint, so a
code-scanning service tracks a finding across line moves just as host-side
suppressions do.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from corral.vetting.finding import Finding
from corral.vetting.report import Report
from corral.vetting.rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_RANK = {"critical": "9.5", "high": "8.0", "medium": "5.0", "low": "2.0"}
_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def to_json(report: Report, blocking: list[Finding] | None = None) -> dict[str, Any]:
    """The report as one JSON-able object."""
    blocked = set(blocking or ())
    undeclared = set(report.undeclared)
    return {
        "plugin": report.plugin,
        "version": report.version,
        "digest": report.digest,
        "files": report.files,
        "counts": report.counts(),
        "blocked": bool(blocked),
        "findings": [
            {
                **f.to_dict(),
                "undeclared": f in undeclared,
                "blocking": f in blocked,
                **({"error": report.explain_undeclared(f)} if f in undeclared else {}),
            }
            for f in report.findings
        ],
        "suppressed": [f.to_dict() for f in report.suppressed],
        "notes": list(report.notes),
    }


def _printable(text: str) -> str:
    """File names and messages come from the plugin: no terminal control characters."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def text_lines(report: Report, blocking: list[Finding] | None = None) -> list[str]:
    """Rich-markup lines: one per finding, then a summary."""
    from rich.markup import escape as markup

    def escape(text: str) -> str:
        return markup(_printable(text))

    blocked = set(blocking or ())
    undeclared = set(report.undeclared)
    lines: list[str] = []
    for f in report.findings:
        style = _STYLE[f.severity]
        tag = " [bold red]BLOCKS[/bold red]" if f in blocked else ""
        tool = "" if f.tool == "corral" else f" ({escape(f.tool)})"
        lines.append(
            f"{escape(f.where)}: [{style}]{f.rule} {f.severity}[/{style}]"
            f"/{f.confidence}{tool}{tag} {escape(f.message)}"
        )
        if f in undeclared:
            lines.append(f"    [red]error[/red]: {escape(report.explain_undeclared(f))}")
        elif f.needs:
            lines.append(f"    needs {escape(f.needs)} (declared)")
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items() if n)
    lines.append(
        f"{escape(report.plugin)} {escape(report.version)}: {report.files} file(s), "
        f"{len(report.findings)} finding(s){' (' + counts + ')' if counts else ''}, "
        f"{len(report.undeclared)} undeclared, {len(report.suppressed)} suppressed"
        + (f", [bold red]{len(blocked)} blocking[/bold red]" if blocked else "")
    )
    for note in report.notes:
        lines.append(f"note: {escape(note)}")
    return lines


def _rule_entry(rule_id: str, name: str, summary: str, severity: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": summary or name},
        "defaultConfiguration": {"level": _LEVEL.get(severity, "warning")},
        "properties": {"security-severity": _RANK.get(severity, "5.0"), "tags": ["security"]},
    }


def to_sarif(report: Report, blocking: list[Finding] | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run per tool (corral, and bandit when merged)."""
    blocked = set(blocking or ())
    undeclared = set(report.undeclared)
    tools = ["corral", *sorted({f.tool for f in report.findings} - {"corral"})]
    runs = []
    for tool in tools:
        mine = [f for f in report.findings if f.tool == tool]
        if tool == "corral":
            rules = [_rule_entry(r.id, r.name, r.summary, r.severity) for r in RULES]
        else:
            seen: dict[str, Finding] = {}
            for f in mine:
                seen.setdefault(f.rule, f)
            rules = [_rule_entry(i, f.name, f.name, f.severity) for i, f in sorted(seen.items())]
        index = {r["id"]: i for i, r in enumerate(rules)}
        results = []
        for f in mine:
            message = report.explain_undeclared(f) if f in undeclared else f.message
            results.append(
                {
                    "ruleId": f.rule,
                    "ruleIndex": index[f.rule],
                    "level": "error" if f in undeclared or f in blocked else _LEVEL[f.severity],
                    "message": {"text": message},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {
                                    "uri": quote(f.path),
                                    "uriBaseId": "PLUGINROOT",
                                },
                                "region": {"startLine": f.line, "startColumn": f.col},
                            }
                        }
                    ],
                    "partialFingerprints": {"corralFingerprint/v1": f.fingerprint},
                    "properties": {
                        "severity": f.severity,
                        "confidence": f.confidence,
                        "needs": f.needs,
                        "undeclared": f in undeclared,
                        "blocking": f in blocked,
                    },
                }
            )
        runs.append(
            {
                "tool": {"driver": {"name": tool, "rules": rules}},
                "results": results,
                "properties": {"plugin": report.plugin, "version": report.version},
            }
        )
    return {"version": SARIF_VERSION, "$schema": SARIF_SCHEMA, "runs": runs}


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
